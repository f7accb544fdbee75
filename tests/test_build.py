"""Whole builds: generated multi-tenant data with bad rows of every kind, a minimal
single-tenant CSV input, and the published file as other processes see it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import ClassVar

import duckdb
import pytest
import yaml

from recsql.build import BuildResult, runner, scheduling
from recsql.datasets.generator import GenerationReport, generate
from tests.conftest import REPO, copy_project, query, write_inputs

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> GenerationReport:
    return generate(
        tmp_path_factory.mktemp("generated"),
        tenants=50,
        customers=60,
        items=40,
        interactions=400,
        seed=7,
        bad_share=0.05,
    )


class _NotedSmallness(scheduling.Smallness):
    """A build's :class:`~recsql.build.scheduling.Smallness`, kept where a test can see it."""

    made: ClassVar[list[scheduling.Smallness]] = []

    def __init__(self, interactions: int | None, budget: int):
        super().__init__(interactions, budget)
        self.made.append(self)


@pytest.fixture(scope="module")
def built(generated: GenerationReport, tmp_path_factory, build_inputs) -> BuildResult:
    """The generated world, built as a build too large for its memory budget is (a small one
    runs its Python models beside its SQL models: recsql/build/scheduling.py)."""
    db = tmp_path_factory.mktemp("db") / "recsql.duckdb"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(scheduling, "SMALL_BUILD_SHARE", 0.0)
        patch.setattr(scheduling, "Smallness", _NotedSmallness)
        return build_inputs(generated.out_dir, db, code_tests=True)


def test_the_engine_s_input_tells_whether_the_build_is_small(built: BuildResult) -> None:
    """The build learns how many rows its engine's input has as soon as it is made (its
    post-hook calls the recsql dbt plugin's recsql_engine_rows): what decides, on a night that
    trains a few of a large fleet's tenants, that the engine's Python models may run beside the
    SQL models. The input's own rows, at most, before that (the generator's, bad rows too)."""
    [smallness] = _NotedSmallness.made
    [(rows,)] = query(built.build_db, "select count(*) from engine.int_interactions_weighted")
    assert smallness.engine_rows == rows > 0
    assert smallness.interactions == sum(
        c.rows_read for c in built.counts if c.source_table == "interactions"
    )


def test_the_dbt_unit_tests_and_code_data_tests_pass(built: BuildResult) -> None:
    """Production builds skip the tests of recsql's code - the dbt unit tests (with fixtures of
    their own) and the data tests that a model's rows are unique and its columns filled; this
    build runs them, every one, on a world of 50 tenants with bad rows planted."""
    defined = {
        test["name"]
        for yml in (REPO / "models").rglob("*.yml")
        for test in (yaml.safe_load(yml.read_text()) or {}).get("unit_tests", [])
    }
    results = json.loads(
        (built.db_path.parent / "recsql.duckdb.build/target/run_results.json").read_text()
    )["results"]
    ran = {
        r["unique_id"].rsplit(".", 1)[-1]: r["status"]
        for r in results
        if r["unique_id"].startswith("unit_test.")
    }
    assert len(defined) >= 5
    assert ran == dict.fromkeys(defined, "pass")
    code_tests = [
        r["status"]
        for r in results
        if r["unique_id"].startswith("test.")
        and r["unique_id"].split(".")[2].startswith(runner.CODE_TEST_NAMES)
    ]
    assert len(code_tests) >= 60 and set(code_tests) == {"pass"}


def _node_spans(built: BuildResult) -> tuple[dict, dict[str, tuple[str, str]], set[str]]:
    """dbt's manifest of a build, each node's span (first start to last end of its timings, in
    its run results) and the dbt threads that ran them."""
    target = built.db_path.parent / "recsql.duckdb.build/target"
    manifest = json.loads((target / "manifest.json").read_text())
    results = json.loads((target / "run_results.json").read_text())["results"]
    spans = {}
    for result in results:
        times = [t[key] for t in result["timing"] for key in ("started_at", "completed_at")]
        if times:  # a node with nothing to run has no timing
            spans[result["unique_id"]] = (min(times), max(times))
    threads = {result["thread_id"] for result in results} - {"main"}  # main: the run's hooks
    return manifest, spans, threads


def _beside(spans: dict[str, tuple[str, str]], nodes: list[str]) -> list[tuple[str, str]]:
    """The pairs of a node of ``nodes`` and another node that ran at the same time."""
    return [
        (node, other)
        for node in nodes
        for other in spans
        if other != node and spans[node][0] < spans[other][1] and spans[other][0] < spans[node][1]
    ]


def test_nodes_run_on_two_threads_but_a_python_model_alone(built: BuildResult) -> None:
    """dbt runs the build's nodes on two threads (recsql/build/scheduling.py), but, in a build
    that is not small, no Python model - the engine's, sized to the memory left of the budget,
    and the publication - runs beside another node, and the nodes that read a source the
    plugin loads take turns until it is loaded. From each node's timings in dbt's run
    results."""
    manifest, spans, threads = _node_spans(built)
    assert len(threads) == 2
    assert _beside(spans, list(spans)), "no two nodes ran at the same time"
    python = [uid for uid in spans if manifest["nodes"].get(uid, {}).get("language") == "python"]
    assert "model.recsql.publication" in python and len(python) >= 10
    assert _beside(spans, python) == []
    # a source the plugin loads (the state's, the served file's) is loaded by the first node
    # that reads it, beside no other node loading one, and read by the others once loaded
    readers: dict[str, list[str]] = {}
    for uid in spans:
        for parent in manifest["nodes"].get(uid, {}).get("depends_on", {}).get("nodes", []):
            if parent.startswith(("source.recsql.lifecycle_state.", "source.recsql.published.")):
                readers.setdefault(parent, []).append(uid)
    assert len(readers) >= 5
    first = {source: min(nodes, key=lambda uid: spans[uid][0]) for source, nodes in readers.items()}
    loading = sorted(set(first.values()))
    assert [(a, b) for a, b in _beside(spans, loading) if b in loading] == []
    for source, nodes in readers.items():
        loaded = spans[first[source]][1]
        assert all(spans[uid][0] >= loaded for uid in nodes if uid != first[source])
    # these inputs are Parquet files: their staging models ran beside others
    assert _beside(spans, ["model.recsql.stg_items_validated"])


def test_a_model_that_reads_a_csv_input_runs_alone(
    single_tenant: tuple[BuildResult, list[str]],
) -> None:
    """A CSV input is a stream dbt-duckdb registers on every cursor it opens: the model that
    reads it runs alone (recsql/build/scheduling.py)."""
    _, spans, threads = _node_spans(single_tenant[0])
    assert len(threads) == 2
    streamed = ["model.recsql.stg_interactions_validated", "model.recsql.stg_items_validated"]
    assert _beside(spans, streamed) == []
    # a small build: its engine's Python models may run beside other nodes, the publication not
    assert _beside(spans, ["model.recsql.publication"]) == []


def test_every_planted_bad_row_is_quarantined_with_its_reason(
    generated: GenerationReport, built: BuildResult
) -> None:
    served = Counter(
        {
            (table, reason): rows
            for table, reason, rows in query(
                built.db_path,
                "select source_table, reason, count(*) from quarantined_rows group by all",
            )
        }
    )
    assert served == Counter(generated.planted)
    assert len({reason for _, reason in generated.planted}) >= 10  # every kind of bad row


def test_rows_read_are_the_rows_written_and_add_up(
    generated: GenerationReport, built: BuildResult
) -> None:
    read = {c.source_table: c for c in built.counts}
    for table, rows in generated.rows.items():
        assert read[table].rows_read == rows, table
        assert read[table].rows_read == read[table].rows_accepted + read[table].rows_quarantined
    assert built.rows_read == sum(generated.rows.values())


def test_all_fifty_tenants_are_served(built: BuildResult) -> None:
    assert built.tenants == 50
    [(tenants_with_lists,)] = query(
        built.db_path, "select count(distinct tenant_id) from recommendations"
    )
    assert tenants_with_lists == 50


def test_no_served_row_mixes_tenants(built: BuildResult) -> None:
    """Ids overlap across generated tenants: every served item must be the tenant's own."""
    for view in ("recommendations", "popular_items"):
        [(foreign,)] = query(
            built.db_path,
            f"select count(*) from {view} as v anti join items as i "
            "on i.tenant_id = v.tenant_id and i.item_id = v.item_id",
        )
        assert foreign == 0, view


def test_the_published_file_opens_read_only_in_a_fresh_process(built: BuildResult) -> None:
    script = """
import json, sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
views = [r[0] for r in con.execute(
    "select view_name from duckdb_views() where not internal and schema_name = 'main'"
).fetchall()]
counts = {v: con.execute(f'select count(*) from "{v}"').fetchall()[0][0] for v in views}
[(tenant, customer)] = con.execute(
    "select tenant_id, customer_id from recommendations limit 1").fetchall()
counts["recommend()"] = len(
    con.execute("select * from recommend(?, ?, 5)", [tenant, customer]).fetchall())
counts["popular()"] = len(con.execute("select * from popular(?, null, 5)", [tenant]).fetchall())
[(storage,)] = con.execute(
    "select tags['storage_version'] from duckdb_databases() "
    "where database_name = current_database()").fetchall()
print(json.dumps({"counts": counts, "storage": storage}))
"""
    result = subprocess.run(
        [sys.executable, "-c", script, str(built.db_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(result.stdout)
    counts = report["counts"]
    assert {
        "recommendations",
        "popular_items",
        "quarantined_rows",
        "items",
        "input_row_counts",
        "tenant_settings",
    } <= set(counts)
    # new_for_you needs a new item: every item of the generated world was launched before its
    # data begins (tests/test_new_items.py builds one that has them)
    assert counts.pop("new_for_you") == 0
    assert all(n > 0 for n in counts.values()), counts
    assert counts["recommend()"] == 5 and counts["popular()"] == 5
    assert report["storage"].startswith("v1.4")  # readable by DuckDB 1.4 and 1.5 clients


def test_a_published_file_uses_no_python_functions(built: BuildResult) -> None:
    con = duckdb.connect(str(built.db_path), read_only=True)
    try:
        python_functions = con.execute(
            "select function_name from duckdb_functions() "
            "where function_type not in ('macro', 'table_macro') and not internal"
        ).fetchall()
    finally:
        con.close()
    assert python_functions == []


@pytest.fixture(scope="module")
def single_tenant(tmp_path_factory, build_inputs) -> tuple[BuildResult, list[str]]:
    """A minimal single-tenant CSV input, built with its progress lines captured."""
    root = tmp_path_factory.mktemp("single")
    data = write_inputs(
        root / "in",
        {
            "interactions.csv": "customer_id,item_id,occurred_at\n"
            + "".join(
                f"c{c},i{(c * 7 + k) % 12},2025-0{1 + k % 9}-1{k % 10} 10:00:00\n"
                for c in range(30)
                for k in range(6)
            ),
            "items.csv": "item_id,name\n" + "".join(f"i{i},Item {i}\n" for i in range(12)),
        },
    )
    lines: list[str] = []
    return build_inputs(data, root / "recsql.duckdb", progress=lines.append), lines


def test_interactions_and_items_csv_without_tenant_id(
    single_tenant: tuple[BuildResult, list[str]],
) -> None:
    result, _ = single_tenant
    assert result.tenants == 1
    assert {c.source_table for c in result.counts} == {"interactions", "items"}
    [(tenants, customers)] = query(
        result.db_path,
        "select count(distinct tenant_id), count(distinct customer_id) from recommendations",
    )
    assert (tenants, customers) == (1, 30)
    assert query(result.db_path, "select distinct tenant_id from tenant_settings") == [("default",)]


PROGRESS_LINE = re.compile(r"  \[ *(\d+)/(\d+)\] (\w+) +(\w+) +\d+\.\d\ds")


def test_progress_numbers_each_model_and_seed_once_in_order(
    single_tenant: tuple[BuildResult, list[str]],
) -> None:
    """One line per model and seed, numbered 1..n in the order printed, out of n: no gaps, no
    tests among them (they are summed up at the end: a production build runs the release
    gates - the singular tests of tests/dbt and the no_rejected_rows checks - not the tests of
    recsql's code)."""
    _, lines = single_tenant
    *node_lines, summary = lines
    matches = [PROGRESS_LINE.fullmatch(line) for line in node_lines]
    assert all(matches), [line for line, m in zip(node_lines, matches, strict=True) if not m]
    numbers = [int(m[1]) for m in matches if m]
    totals = {int(m[2]) for m in matches if m}
    names = [m[3] for m in matches if m]
    nodes = [p.stem for p in (REPO / "models").rglob("*") if p.suffix in (".sql", ".py")]
    nodes += [p.stem for p in (REPO / "seeds").glob("*.csv")]
    assert numbers == list(range(1, len(nodes) + 1))
    assert totals == {len(nodes)}
    assert sorted(names) == sorted(nodes)
    assert {m[4] for m in matches if m} == {"ok"}
    tests = re.fullmatch(
        rf"  {len(nodes)}/{len(nodes)} models and seeds built; tests: (\d+) passed", summary
    )
    singular = [p for p in (REPO / "tests" / "dbt").rglob("*.sql") if p.parent.name != "generic"]
    rejected_row_checks = sum(
        yml.read_text().count("- no_rejected_rows") for yml in (REPO / "models").rglob("*.yml")
    )
    assert tests and int(tests[1]) == len(singular) + rejected_row_checks >= 9, summary


def test_a_staging_model_that_loses_an_input_row_fails_the_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rows each input stream handed over (counted by the recsql plugin: the staging models
    read the files' rows once, as they stream) must all be accepted or quarantined: a staging
    model that drops one fails the build, which publishes nothing."""
    data = tmp_path / "data"
    generate(data, tenants=1, customers=30, items=15, interactions=300, seed=2)
    project = copy_project(tmp_path / "project")
    staging = project / "models" / "staging" / "stg_interactions.sql"
    # the defect: the first row read is neither accepted nor quarantined
    staging.write_text(staging.read_text().rstrip() + " and _source_row <> 1\n")
    monkeypatch.setattr(runner, "project_dir", lambda: project)
    db = tmp_path / "shop.duckdb"
    with pytest.raises(runner.BuildFailed, match="neither accepted nor quarantined"):
        runner.build(data, db)
    assert not db.exists()
