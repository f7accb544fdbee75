"""The state database (recsql/lifecycle/state.py): what outlives a build, and how a build that
is killed at any point is settled by the next one.

Fast tests on the module: a new file, migration forward from every older schema, refusal of a
newer, corrupt or foreign file, one writer at a time, reconciliation of unfinished builds.
Slow tests run real builds: the build id and clock in both files, a failed build recorded
with its reason, and builds killed with SIGKILL before dbt, after "publishing" was recorded
(before the swap) and after the swap (before "published"), one after the other, then a good build.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recsql.build.publish import KILL_AT
from recsql.datasets.generator import generate
from recsql.lifecycle import promotion, state
from tests.conftest import AS_OF, query, run_recsql

NIGHT = datetime(2026, 1, 1)


def _build_statuses(path: Path) -> dict[str, str]:
    with state.connect(path, read_only=True) as con:
        return dict(con.execute("select build_id, status from builds").fetchall())


def _register(path: Path, status: str) -> str:
    """A build left in ``status`` in the state at ``path``, as a killed process leaves it."""
    with state.Writer(path) as writer:
        build = writer.begin(as_of=NIGHT, data_dir=path.parent, db_path=path.parent / "x.duckdb")
    with state.connect(path) as con:
        con.execute("update builds set status = ? where build_id = ?", [status, build.build_id])
    return build.build_id


def _served_file(path: Path, build_id: str) -> Path:
    con = duckdb.connect(str(path))
    con.execute("create schema recsql_data")
    con.execute("create table recsql_data.build_info as select ? as build_id", [build_id])
    con.close()
    return path


def test_a_new_state_file_has_the_current_schema(tmp_path: Path) -> None:
    path = tmp_path / "shop.state.duckdb"
    with state.connect(path) as con:
        [(version,)] = con.execute(
            "select value from state_info where key = 'schema_version'"
        ).fetchall()
        tables = {row[0] for row in con.execute("show tables").fetchall()}
    assert int(version) == state.SCHEMA_VERSION
    assert {"builds", "tenant_builds", "model_versions", "registry_events"} <= tables


def test_the_default_state_file_is_beside_the_served_one() -> None:
    assert state.default_path(Path("/srv/shop.duckdb")) == Path("/srv/shop.state.duckdb")


@pytest.mark.parametrize("version", range(state.SCHEMA_VERSION))
def test_an_older_state_file_is_migrated_forward_keeping_its_rows(
    tmp_path: Path, version: int
) -> None:
    path = tmp_path / "old.state.duckdb"
    con = duckdb.connect(str(path))
    state.migrate(con, 0, to=version)
    if version >= 1:
        con.execute(
            "insert into builds (build_id, as_of, started_at, status, recsql_version) "
            "values ('old-build', ?, ?, 'published', '0.0.1')",
            [NIGHT, NIGHT],
        )
    con.close()
    with state.connect(path) as con:
        [(now,)] = con.execute(
            "select value from state_info where key = 'schema_version'"
        ).fetchall()
        builds = con.execute("select build_id from builds").fetchall()
    assert int(now) == state.SCHEMA_VERSION
    assert builds == ([("old-build",)] if version >= 1 else [])


#: Each released migration step's SQL (comments and spacing aside), by the schema version it
#: makes: a state file an older recsql wrote was made by these very steps, so migrating it
#: forward is what the test above does from an empty file. A new step is appended with its
#: digest; a released one never changes.
RELEASED_MIGRATIONS = {
    1: "bb60afd66f8cd800",
    2: "5439d378770d2b79",
    3: "b99d066fdee10b64",
    4: "bf492cc05077db73",
    5: "cec0b1930e492389",
    6: "4e3ae3a9954c50e3",
    7: "1e0923b58960175a",
    8: "715d5daf109123c8",
    9: "2a711baf00ebe04c",
}


def test_released_migration_steps_never_change() -> None:
    def digest(step: str) -> str:
        text = " ".join(re.sub(r"--[^\n]*", "", step).split())
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    steps = {version: digest(step) for version, step in enumerate(state.MIGRATIONS, 1)}
    assert {version: steps.get(version) for version in RELEASED_MIGRATIONS} == RELEASED_MIGRATIONS
    unlisted = sorted(set(steps) - set(RELEASED_MIGRATIONS))
    assert unlisted == [], f"new migration steps: add their digests {[steps[v] for v in unlisted]}"


def test_a_state_file_from_a_newer_recsql_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.state.duckdb"
    with state.connect(path) as con:
        con.execute("update state_info set value = '99' where key = 'schema_version'")
    with pytest.raises(state.StateError, match=r"new.state.duckdb was written by a newer recsql"):
        _open(path)


def _open(path: Path) -> None:
    with state.connect(path):
        pass


def test_a_corrupt_state_file_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "broken.state.duckdb"
    path.write_bytes(b"not a database " * 1000)
    before = path.read_bytes()
    with pytest.raises(state.StateError) as error:
        _open(path)
    assert str(path) in str(error.value)
    assert "Restore it from a backup" in str(error.value)
    assert path.read_bytes() == before


def test_a_served_database_given_as_the_state_is_refused(tmp_path: Path) -> None:
    served = _served_file(tmp_path / "shop.duckdb", "b1")
    with pytest.raises(state.StateError, match="not a recsql state file"):
        _open(served)


def test_two_writers_never_share_a_state_file(tmp_path: Path) -> None:
    path = tmp_path / "shop.state.duckdb"
    busy = rf"pid {os.getpid()}.*wait for it to finish"
    with state.Writer(path), pytest.raises(state.StateError, match=busy), state.Writer(path):
        pass
    with state.Writer(path):  # released at the end of the first
        pass


def test_a_build_holding_the_state_makes_a_second_build_refuse(tmp_path: Path) -> None:
    data = tmp_path / "data"
    generate(data, tenants=1, customers=30, items=20, interactions=300, seed=1)
    db = tmp_path / "shop.duckdb"
    with state.Writer(state.default_path(db)):
        result = run_recsql("build", "--data", str(data), "--db", str(db), "--as-of", AS_OF)
    assert result.returncode == 2, result.stderr
    assert "Another recsql build is using the state file" in result.stderr
    assert not db.exists()


def test_unfinished_builds_are_settled_by_the_next_writer(tmp_path: Path) -> None:
    path = tmp_path / "shop.state.duckdb"
    running = _register(path, "running")
    publishing_swapped = _register(path, "publishing")
    publishing_not_swapped = _register(path, "publishing")
    done = _register(path, "published")
    served = _served_file(tmp_path / "shop.duckdb", publishing_swapped)
    with state.Writer(path) as writer:
        settled = dict(writer.reconcile(served))
    assert settled == {
        running: "abandoned",
        publishing_swapped: "published",
        publishing_not_swapped: "abandoned",
    }
    assert _build_statuses(path)[done] == "published"
    with state.Writer(path) as writer:
        assert writer.reconcile(served) == []


# --- real builds -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("lifecycle") / "data"
    generate(data, tenants=2, customers=60, items=40, interactions=900, seed=7)
    return data


def _build(
    data: Path, db: Path, *extra: str, kill_at: str | None = None, as_of: str = AS_OF
) -> int:
    env = {**os.environ, KILL_AT: kill_at} if kill_at else None
    process = subprocess.run(
        [sys.executable, "-m", "recsql.cli", "build", "--data", str(data), "--db", str(db),
         "--as-of", as_of, *extra],
        capture_output=True, text=True, env=env, check=False, timeout=300,
    )  # fmt: skip
    return process.returncode


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _trained(build_id: str, ndcg: dict[str, float]) -> pa.Table:
    """The trained_versions rows of a build that trained the tenants of ``ndcg``."""
    tenants = sorted(ndcg)
    return pa.table(
        {
            "tenant_id": tenants,
            "version": [build_id] * len(tenants),
            "trained_at": [NIGHT] * len(tenants),
            "data_until": [NIGHT] * len(tenants),
            "algorithm": ["ease"] * len(tenants),
            "variant": ["binary"] * len(tenants),
            "buy_again_algorithm": ["repurchase"] * len(tenants),
            "parameters": ["{}"] * len(tenants),
            "interactions": [100] * len(tenants),
            "customers": [10] * len(tenants),
            "items": [20] * len(tenants),
            "input_fingerprint": ["00"] * len(tenants),
            "ndcg": [ndcg[t] for t in tenants],
            "buy_again_ndcg": [0.5] * len(tenants),
            "erasures": [0] * len(tenants),
        }
    )


def _plans(
    trained: list[str],
    off: tuple[str, ...] = (),
    keep_versions: int = 5,
    triggers: dict[str, str] | None = None,
    candidates: dict[str, str] | None = None,
) -> pa.Table:
    """tenant_plans rows: the tenants of ``trained`` train (their trigger: ``triggers``, else
    erasure: active at once; age, new_data, drift or retrain_all make a candidate), those of
    ``off`` are off. ``candidates``: the tenants' waiting candidates."""
    tenants = [*trained, *off]
    n = len(tenants)
    triggers = {t: (triggers or {}).get(t, "erasure") for t in trained}
    return pa.table(
        {
            "tenant_id": pa.array(tenants, pa.string()),
            "mode": pa.array(["on"] * len(trained) + ["off"] * len(off), pa.string()),
            "action": pa.array(["train"] * len(trained) + ["off"] * len(off), pa.string()),
            "trigger": pa.array([triggers[t] for t in trained] + ["off"] * len(off), pa.string()),
            "reason": pa.array(["due"] * len(trained) + ["switched off"] * len(off), pa.string()),
            "new_version_status": pa.array(
                [
                    "active" if triggers[t] in ("first_version", "erasure") else "candidate"
                    for t in trained
                ]
                + [None] * len(off),
                pa.string(),
            ),
            "keep_versions": pa.array([keep_versions] * n, pa.int64()),
            "active_version": pa.nulls(n, pa.string()),
            "candidate_version": pa.array(
                [(candidates or {}).get(t) for t in tenants], pa.string()
            ),
            "operator_request_id": pa.nulls(n, pa.int64()),
            "operator_action": pa.nulls(n, pa.string()),
            "operator_why": pa.nulls(n, pa.string()),
            "fit_seconds": pa.array([1.5] * len(trained) + [None] * len(off), pa.float64()),
            "carried": pa.array([False] * n, pa.bool_()),
        }
    )


def _forms(build_id: str, tenants: list[str]) -> dict[str, pa.Table]:
    """A stored model per trained tenant (a buy-again rule and one similar-items pair)."""
    n = len(tenants)
    return {
        "repurchase": pa.table(
            {"tenant_id": tenants, "version": [build_id] * n, "method": ["decayed affinity"] * n}
        ),
        "neighbours": pa.table(
            {
                "tenant_id": tenants,
                "version": [build_id] * n,
                "algorithm": ["cooccurrence"] * n,
                "item_id": ["i1"] * n,
                "rank": [1] * n,
                "neighbour_item_id": ["i2"] * n,
                "weight": [0.5] * n,
            }
        ),
    }


def _night(
    path: Path,
    ndcg: dict[str, float],
    *,
    publish: bool = True,
    off: tuple[str, ...] = (),
    keep_versions: int = 5,
    trigger: str | None = None,
    judgements: list[dict[str, object]] = (),  # type: ignore[assignment]
) -> tuple[str, state.StateUpdate]:
    """A build that trains the tenants of ``ndcg`` (for ``trigger``; default: first_version
    for a tenant without a version, else erasure, both active at once), reads those of ``off``
    as off, applies the promotion gate's ``judgements``, and publishes (or dies before the
    swap); its id and what the published file would show."""
    with state.Writer(path) as writer:
        build = writer.begin(as_of=NIGHT, data_dir=path.parent, db_path=path.parent / "x.duckdb")
    serving = {row["tenant_id"] for row in state.active_rows(path, "active_versions").to_pylist()}
    waiting = {
        row["tenant_id"]: row["version"]
        for row in state.active_rows(path, "candidate_versions").to_pylist()
    }
    triggers = {
        t: trigger or ("erasure" if t in serving else "first_version") for t in sorted(ndcg)
    }
    update = state.pending(
        path,
        build.build_id,
        NIGHT,
        _trained(build.build_id, ndcg),
        _plans(sorted(ndcg), off, keep_versions, triggers, waiting),
        pa.Table.from_pylist(list(judgements), schema=promotion.JUDGEMENTS_SCHEMA),
        _forms(build.build_id, sorted(ndcg)),
    )
    state.record_publishing(path, build.build_id, update)
    if publish:
        state.record_published(path, build.build_id)
    return build.build_id, update


def _statuses(registry: pa.Table) -> dict[tuple[str, str], str]:
    rows = registry.select(["tenant_id", "version", "status"]).to_pylist()
    return {(r["tenant_id"], r["version"]): r["status"] for r in rows}


def test_each_training_is_a_version_and_the_newest_is_active(tmp_path: Path) -> None:
    path = tmp_path / "shop.state.duckdb"
    first, update = _night(path, {"a": 0.2, "b": 0.3})
    registry = update.registry
    assert _statuses(registry) == {("a", first): "active", ("b", first): "active"}
    assert set(registry.column("reason").to_pylist()) == {state.FIRST_VERSION}

    second, update = _night(path, {"a": 0.25}, off=("b",))  # b switched off this night
    registry = update.registry
    assert _statuses(registry) == {
        ("a", first): "superseded",
        ("a", second): "active",
        ("b", first): "active",
    }
    row = registry.filter(pa.compute.equal(registry["version"], second)).to_pylist()[0]
    assert (row["ndcg"], row["active_ndcg"], row["reason"]) == (0.25, 0.2, state.ERASURE)

    # the state's view says what the published file showed
    with state.connect(path, read_only=True) as con:
        assert _statuses(con.sql("from model_registry").to_arrow_table()) == _statuses(registry)


def test_a_version_of_a_build_that_never_published_does_not_count(tmp_path: Path) -> None:
    path = tmp_path / "shop.state.duckdb"
    first, _ = _night(path, {"a": 0.2})
    _night(path, {"a": 0.9}, publish=False)  # killed between "publishing" and the swap
    with state.Writer(path) as writer:
        writer.reconcile(path.parent / "x.duckdb")
    third, update = _night(path, {"a": 0.3})
    registry = update.registry
    assert _statuses(registry) == {("a", first): "superseded", ("a", third): "active"}
    assert update.history.column("build_id").to_pylist() == [first, third]
    row = registry.filter(pa.compute.equal(registry["version"], third)).to_pylist()[0]
    assert row["active_ndcg"] == 0.2  # judged against the served version, not the dead one


def test_a_build_that_fails_after_recording_publishing_is_undone(tmp_path: Path) -> None:
    """The publication records the build in the state while it writes the served file
    (recsql/build/publish.py): a build that then fails before its swap is failed, and what it
    recorded is undone as for a build killed there - its stored models are deleted, and its
    version does not count."""
    path = tmp_path / "shop.state.duckdb"
    first, _ = _night(path, {"a": 0.2})
    failed, _ = _night(path, {"a": 0.9}, publish=False)
    with state.connect(path, read_only=True) as con:
        assert con.execute(
            "select count(*) from stored_neighbours where version = ?", [failed]
        ).fetchall() == [(1,)]
    with state.Writer(path) as writer:
        writer.fail(state.Build(failed, NIGHT, path), "the disk is full")
    [newest, _] = state.builds(path)
    assert (newest["build_id"], newest["status"], newest["message"]) == (
        failed,
        "failed",
        "the disk is full",
    )
    with state.connect(path, read_only=True) as con:
        for form in state.STORED_FORMS:
            found = con.execute(f"select count(*) from stored_{form} where version = ?", [failed])
            assert found.fetchall() == [(0,)], form
    third, update = _night(path, {"a": 0.3})
    assert _statuses(update.registry) == {("a", first): "superseded", ("a", third): "active"}
    row = update.registry.filter(pa.compute.equal(update.registry["version"], third)).to_pylist()
    assert row[0]["active_ndcg"] == 0.2


def test_stored_models_beyond_keep_versions_are_retired_and_their_registry_rows_stay(
    tmp_path: Path,
) -> None:
    path = tmp_path / "shop.state.duckdb"
    versions = [_night(path, {"a": 0.1}, keep_versions=2)[0] for _ in range(4)]
    with state.connect(path, read_only=True) as con:
        registry = dict(con.execute("select version, status from model_registry").fetchall())
        stored = {
            version
            for (version,) in con.execute(
                "select distinct version from stored_neighbours"
            ).fetchall()
        }
    # the active one and the two before it keep their stored models; the first is retired
    assert registry == {
        versions[0]: "retired",
        versions[1]: "superseded",
        versions[2]: "superseded",
        versions[3]: "active",
    }
    assert stored == set(versions[1:])
    assert state.active_rows(path, "stored_neighbours").read_all().column(
        "version"
    ).to_pylist() == [versions[3]]


def test_a_killed_build_leaves_no_stored_model_behind(tmp_path: Path) -> None:
    path = tmp_path / "shop.state.duckdb"
    _night(path, {"a": 0.2})
    dead, _ = _night(path, {"a": 0.9}, publish=False)  # killed before the swap
    with state.Writer(path) as writer:
        writer.reconcile(path.parent / "x.duckdb")
    with state.connect(path, read_only=True) as con:
        left = con.execute(
            "select count(*) from stored_repurchase where version = ?", [dead]
        ).fetchall()
    assert left == [(0,)]


def _judgement(active: str, candidate: str, verdict: str) -> dict[str, object]:
    ndcg = {"promoted": (0.2, 0.4), "rejected": (0.3, 0.1)}[verdict]
    return {
        "tenant_id": "a",
        "active_version": active,
        "candidate_version": candidate,
        "window_customers": 60,
        "judged_customers": 50,
        "active_ndcg": ndcg[0],
        "candidate_ndcg": ndcg[1],
        "promotion_margin": 0.0,
        "verdict": verdict,
        "reason": f"{verdict}: as measured",
    }


def test_a_retrained_version_is_a_candidate_until_the_gate_judges_it(tmp_path: Path) -> None:
    path = tmp_path / "shop.state.duckdb"
    first, _ = _night(path, {"a": 0.2})
    second, update = _night(path, {"a": 0.5}, trigger="age")
    # the active version still serves; the candidate and its stored model wait for the gate
    assert _statuses(update.registry) == {("a", first): "active", ("a", second): "candidate"}
    [tenant] = update.tenants.to_pylist()
    assert (tenant["outcome"], tenant["version"]) == ("kept", first)
    assert tenant["reason"].startswith(f"trained candidate {second} (due); version {first}")
    [waiting] = state.active_rows(path, "candidate_versions").to_pylist()
    assert waiting["version"] == second
    stored = state.active_rows(path, "stored_neighbours").read_all().column("version").to_pylist()
    assert sorted(stored) == sorted([first, second])

    # judged at a later build: rejected, with both NDCGs; the active version stays
    _, update = _night(path, {}, judgements=[_judgement(first, second, "rejected")])
    row = update.registry.filter(pa.compute.equal(update.registry["version"], second))
    assert row.select(["status", "ndcg", "active_ndcg", "reason"]).to_pylist() == [
        {"status": "rejected", "ndcg": 0.1, "active_ndcg": 0.3, "reason": "rejected: as measured"}
    ]
    assert state.active_rows(path, "candidate_versions").num_rows == 0

    # the next candidate is promoted: it serves, the one it replaces is superseded
    fourth, _ = _night(path, {"a": 0.6}, trigger="drift")
    _, update = _night(path, {}, judgements=[_judgement(first, fourth, "promoted")])
    assert _statuses(update.registry) == {
        ("a", first): "superseded",
        ("a", second): "rejected",
        ("a", fourth): "active",
    }
    [row] = state.active_rows(path, "active_versions").to_pylist()
    assert row["version"] == fourth


def test_a_version_trained_for_a_tenant_the_build_failed_is_failed_and_not_stored(
    tmp_path: Path,
) -> None:
    path = tmp_path / "shop.state.duckdb"
    first, _ = _night(path, {"a": 0.2, "b": 0.3})
    # the engine trained both, then a's fresh lists broke a guarantee: a failed
    second, update = _night(path, {"a": 0.5, "b": 0.4}, trigger="failed")
    assert _statuses(update.registry)[("a", second)] == "failed"
    assert _statuses(update.registry)[("a", first)] == "active"  # still serving
    tenants = {row["tenant_id"]: row for row in update.tenants.to_pylist()}
    assert (tenants["a"]["outcome"], tenants["a"]["version"]) == ("failed", first)
    assert tenants["a"]["fit_seconds"] == 1.5
    history = update.history.filter(pa.compute.equal(update.history["build_id"], second))
    assert history.column("fit_seconds").to_pylist() == [1.5, 1.5]
    stored = state.active_rows(path, "stored_repurchase").read_all().to_pylist()
    assert second not in {row["version"] for row in stored}
    with pytest.raises(state.StateError, match="is failed and has no stored model"):
        state.request(path, "a", "pin", "try it", version=second)


def test_a_candidate_still_waiting_when_a_version_is_trained_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "shop.state.duckdb"
    first, _ = _night(path, {"a": 0.2})
    second, _ = _night(path, {"a": 0.5}, trigger="age")
    third, update = _night(path, {"a": 0.4})  # an erasure: active at once
    assert _statuses(update.registry) == {
        ("a", first): "superseded",
        ("a", second): "rejected",
        ("a", third): "active",
    }
    [event] = [e for e in update.events.to_pylist() if e["version"] == second]
    assert event["reason"] == f"not judged: replaced by version {third} (erasure)"


def test_keep_versions_counts_neither_the_active_version_nor_the_candidate(
    tmp_path: Path,
) -> None:
    path = tmp_path / "shop.state.duckdb"
    first, _ = _night(path, {"a": 0.2}, keep_versions=1)
    second, _ = _night(path, {"a": 0.3}, keep_versions=1)  # an erasure: first superseded
    third, _ = _night(path, {"a": 0.5}, keep_versions=1, trigger="age")
    with state.connect(path, read_only=True) as con:
        statuses = dict(con.execute("select version, status from model_registry").fetchall())
    # one stored version besides the active one and the candidate: the first is kept
    assert statuses == {first: "superseded", second: "active", third: "candidate"}
    fourth, _ = _night(path, {"a": 0.4}, keep_versions=1)  # the candidate is rejected
    with state.connect(path, read_only=True) as con:
        statuses = dict(con.execute("select version, status from model_registry").fetchall())
    assert statuses == {
        first: "retired",
        second: "retired",
        third: "rejected",
        fourth: "active",
    }


def test_without_a_state_every_version_is_a_first_version() -> None:
    update = state.pending(
        None,
        "b1",
        NIGHT,
        _trained("b1", {"a": 0.1}),
        _plans(["a"], triggers={"a": "first_version"}),
        promotion.JUDGEMENTS_SCHEMA.empty_table(),
        _forms("b1", ["a"]),
    )
    assert _statuses(update.registry) == {("a", "b1"): "active"}
    assert update.status.column("last_built_at").to_pylist() == [NIGHT]


@pytest.fixture(scope="module")
def first_night_dir(small_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One published build of the small world, its state kept elsewhere (--state)."""
    directory = tmp_path_factory.mktemp("first-night")
    db, state_path = directory / "shop.duckdb", directory / "elsewhere" / "shop.state.duckdb"
    assert _build(small_world, db, "--state", str(state_path)) == 0
    return directory


@pytest.fixture
def first_night(first_night_dir: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the first night's served file and state: (db, state path)."""
    shutil.copytree(first_night_dir, tmp_path, dirs_exist_ok=True)
    return tmp_path / "shop.duckdb", tmp_path / "elsewhere" / "shop.state.duckdb"


@pytest.mark.slow
def test_both_files_carry_the_build_id_and_its_clock(first_night: tuple[Path, Path]) -> None:
    db, state_path = first_night
    [(build_id, as_of)] = query(db, "select build_id, as_of from build_info")
    assert as_of == datetime.fromisoformat(AS_OF)
    assert query(db, "select distinct model_version from recommendations") == [(build_id,)]
    [row] = state.builds(state_path)
    assert (row["build_id"], row["status"], row["as_of"]) == (build_id, "published", as_of)
    assert row["tenants"] == 2
    assert not state.default_path(db).exists()  # --state put it elsewhere
    # the served file reads nothing from the state: it opens with the state gone
    state_path.unlink()
    [(tenant, customer)] = query(db, "select tenant_id, customer_id from recommendations limit 1")
    assert query(db, "select count(*) from recommend(?, ?, 5)", [tenant, customer])[0][0] > 0


@pytest.mark.slow
def test_a_failed_build_is_recorded_with_its_reason(
    first_night: tuple[Path, Path], tmp_path: Path
) -> None:
    db, state_path = first_night
    served = _digest(db)
    broken = tmp_path / "broken"
    generate(broken, tenants=1, customers=30, items=20, interactions=300, seed=1)
    (broken / "interactions.parquet").unlink()
    (broken / "interactions.csv").write_text("customer_id,item_id,occurred_at\n")
    assert _build(broken, db, "--state", str(state_path)) == 1
    assert _digest(db) == served
    newest = state.builds(state_path)[0]
    assert newest["status"] == "failed"
    assert newest["message"] == (
        "test assert_every_tenant_has_enough_accepted_input: Got 1 result, configured to fail "
        "if != 0 — tenant t0001: 0 of 0 interactions accepted: the interactions input has no "
        "rows"
    )


@pytest.mark.slow
def test_killed_builds_are_settled_by_the_next_one(
    small_world: Path, first_night: tuple[Path, Path]
) -> None:
    """Builds killed with SIGKILL before dbt starts, once "publishing" is recorded (before the
    swap) and after the swap (before "published" is recorded), one after the other: each next
    build settles the one before it by the build id the served file carries - abandoned,
    abandoned, published - and the served file changed only with the swap."""
    db, state_path = first_night
    first = query(db, "select build_id from build_info")[0][0]
    killed = {}
    for kill_at, served_changes in (("running", False), ("publishing", False), ("swapped", True)):
        served = _digest(db)
        assert _build(small_world, db, "--state", str(state_path), kill_at=kill_at) == -9
        [killed[kill_at]] = [
            b for b in _build_statuses(state_path) if b != first and b not in killed.values()
        ]
        assert (_digest(db) != served) == served_changes, kill_at
        carried = query(db, "select build_id from build_info")[0][0]
        assert (carried == killed[kill_at]) == served_changes, kill_at

    assert _build(small_world, db, "--state", str(state_path)) == 0
    statuses = _build_statuses(state_path)
    assert statuses[first] == "published"
    assert [statuses[killed[k]] for k in ("running", "publishing", "swapped")] == [
        "abandoned",
        "abandoned",
        "published",
    ]
    [last] = [b for b in statuses if b != first and b not in killed.values()]
    assert statuses[last] == "published"
    assert query(db, "select build_id from build_info") == [(last,)]
    assert not db.with_name(db.name + ".next").exists()


@pytest.mark.slow
def test_the_registry_names_the_version_every_served_row_carries(
    small_world: Path, first_night: tuple[Path, Path], tmp_path: Path
) -> None:
    db, state_path = first_night
    [(first,)] = query(db, "select build_id from build_info")
    # the next night t0002 is switched off: nothing is trained or served for it
    night2 = tmp_path / "night2"
    shutil.copytree(small_world, night2)
    tenants = pq.read_table(night2 / "tenants.parquet")
    rows = tenants.select(["tenant_id", "mode"]).to_pylist()
    modes = ["off" if row["tenant_id"] == "t0002" else row["mode"] for row in rows]
    tenants = tenants.set_column(tenants.schema.get_field_index("mode"), "mode", pa.array(modes))
    pq.write_table(tenants, night2 / "tenants.parquet")
    assert _build(night2, db, "--state", str(state_path), as_of="2026-01-02") == 0
    [(second,)] = query(db, "select build_id from build_info")
    published = query(
        db, "select tenant_id, version, status from model_registry order by tenant_id, version"
    )
    assert published == [
        ("t0001", first, "active"),  # retrained: a candidate, the active version serves on
        ("t0001", second, "candidate"),
        ("t0002", first, "active"),  # off: its last version stays the active one
    ]
    with state.connect(state_path, read_only=True) as con:
        kept = con.execute(
            "select tenant_id, version, status from model_registry order by tenant_id, version"
        ).fetchall()
    assert kept == published
    served = query(db, "select distinct tenant_id, model_version from recommendations")
    assert served == [("t0001", first)]
    assert query(
        db,
        "select tenant_id, mode, active_version, last_outcome, last_built_at from tenant_status "
        "order by tenant_id",
    ) == [
        ("t0001", "on", first, "kept", datetime(2026, 1, 2)),
        ("t0002", "off", first, "off", datetime.fromisoformat(AS_OF)),
    ]
    assert query(db, "select count(*), count(distinct build_id) from build_history") == [(4, 2)]
    [(lineage,)] = query(
        db,
        "select interactions > 0 and customers > 0 and items > 0 and data_until <= trained_at "
        "and library_versions like '%implicit%' from model_registry where version = ? "
        "and tenant_id = 't0001'",
        [second],
    )
    assert lineage


def test_status_lists_the_builds(tmp_path: Path) -> None:
    db = tmp_path / "shop.duckdb"
    build_id = _register(state.default_path(db), "running")
    result = run_recsql("status", "--db", str(db))
    assert result.returncode == 0, result.stderr
    assert build_id in result.stdout and "running" in result.stdout
    as_json = run_recsql("status", "--db", str(db), "--json")
    [row] = json.loads(as_json.stdout)
    assert (row["build_id"], row["status"], row["tenants"]) == (build_id, "running", 0)
    missing = run_recsql("status", "--db", str(tmp_path / "other.duckdb"))
    assert missing.returncode == 2
    assert "No state file at" in missing.stderr


def _serving_night(path: Path, trigger: str) -> tuple[str, state.StateUpdate]:
    """A build that trains nothing and serves tenant a's version as the state says (with the
    operator's request it read): its trigger ``trigger`` (operator, pinned)."""
    with state.Writer(path) as writer:
        build = writer.begin(as_of=NIGHT, data_dir=path.parent, db_path=path.parent / "x.duckdb")
    [row] = state.active_rows(path, "active_versions").to_pylist()
    plans = pa.Table.from_pylist(
        [
            {
                "tenant_id": "a",
                "mode": "on",
                "action": "score",
                "trigger": trigger,
                "reason": trigger,
                "keep_versions": 5,
                "active_version": row["version"],
                "operator_request_id": row["operator_request_id"],
                "operator_action": row["operator_action"],
                "operator_why": row["operator_why"],
                "carried": False,
            }
        ],
        schema=_plans(["a"]).schema,
    )
    update = state.pending(
        path,
        build.build_id,
        NIGHT,
        _trained(build.build_id, {"a": 0.0}).slice(0, 0),
        plans,
        promotion.JUDGEMENTS_SCHEMA.empty_table(),
        {},
    )
    state.record_publishing(path, build.build_id, update)
    state.record_published(path, build.build_id)
    return build.build_id, update


def test_a_pinned_version_serves_from_the_next_build_until_unpinned(tmp_path: Path) -> None:
    path = tmp_path / "shop.state.duckdb"
    first, _ = _night(path, {"a": 0.2})
    second, _ = _night(path, {"a": 0.3})
    request = state.request(path, "a", "pin", "the new version sells less", first)
    [row] = state.active_rows(path, "active_versions").to_pylist()
    assert (row["version"], row["operator_action"], row["is_pinned"]) == (first, "pin", True)
    assert row["operator_request_id"] == request

    _, update = _serving_night(path, "operator")
    assert _statuses(update.registry) == {("a", first): "active", ("a", second): "superseded"}
    [tenant] = update.tenants.to_pylist()
    assert (tenant["outcome"], tenant["version"]) == ("promoted", first)
    [event] = [e for e in update.events.to_pylist() if e["status"] == "active"]
    assert event["reason"] == "pinned by the operator: the new version sells less"
    # applied: the next build reads no request, the tenant stays pinned
    [row] = state.active_rows(path, "active_versions").to_pylist()
    assert (row["version"], row["operator_action"], row["is_pinned"]) == (first, None, True)
    listed = state.versions(path, "a")
    assert [(v["version"], v["pinned"]) for v in listed["versions"]] == [
        (second, False),
        (first, True),
    ]
    assert [r["is_pending"] for r in listed["requests"]] == [False]

    state.request(path, "a", "unpin", "back to nightly training")
    _serving_night(path, "not_due")
    [row] = state.active_rows(path, "active_versions").to_pylist()
    assert (row["version"], row["is_pinned"]) == (first, False)


def test_a_pinned_version_is_never_retired(tmp_path: Path) -> None:
    path = tmp_path / "shop.state.duckdb"
    first, _ = _night(path, {"a": 0.1}, keep_versions=1)
    _night(path, {"a": 0.2}, keep_versions=1)
    state.request(path, "a", "pin", "keep the first around", first)
    _serving_night(path, "operator")
    # trainings a build would not make while pinned: the state keeps the pinned model anyway
    for _ in range(3):
        _night(path, {"a": 0.4}, keep_versions=1)
    with state.connect(path, read_only=True) as con:
        statuses = dict(con.execute("select version, status from model_registry").fetchall())
    assert statuses[first] == "superseded"  # pinned: its stored model stays


@pytest.mark.parametrize(
    ("action", "version", "why", "message"),
    [
        ("pin", "nope", "x", "has no version 'nope'"),
        ("pin", None, "", "Say why"),
        ("unpin", None, "x", "is not pinned"),
    ],
)
def test_a_request_that_cannot_be_applied_is_refused(
    tmp_path: Path, action: str, version: str | None, why: str, message: str
) -> None:
    path = tmp_path / "shop.state.duckdb"
    _night(path, {"a": 0.2})
    with pytest.raises(state.StateError, match=message):
        state.request(path, "a", action, why, version)
    with pytest.raises(state.StateError, match="has no version in"):
        state.request(path, "b", "pin", "x", "v")


def test_a_retired_version_cannot_be_pinned(tmp_path: Path) -> None:
    path = tmp_path / "shop.state.duckdb"
    first, _ = _night(path, {"a": 0.1}, keep_versions=1)
    for _ in range(2):
        _night(path, {"a": 0.2}, keep_versions=1)
    with pytest.raises(state.StateError, match="is retired and has no stored model"):
        state.request(path, "a", "pin", "x", first)
