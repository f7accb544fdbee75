"""A build's memory budget (recsql/memory.py) and tenants built in shards
(recsql/engine/shards.py): shards change nothing in what is built, a shard that fails is split
until the tenant that fails is alone (its failure, noted in the engine's journal), a build over
its budget goes on in smaller shards, and the same world built in one shard and in shards of
one tenant publishes the same lists."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pyarrow as pa
import pytest

from recsql import memory
from recsql.datasets.generator import generate
from recsql.engine import journal, shards
from tests.conftest import query, run_recsql

GiB = 2**30


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("8GiB", 8 * GiB),
        ("8gib", 8 * GiB),
        ("8 GiB", 8 * GiB),
        ("8GB", 8 * 1000**3),
        ("8g", 8 * GiB),
        ("1.5GiB", int(1.5 * GiB)),
        ("2048MiB", 2 * GiB),
        ("2000mb", 2000 * 1000**2),
        (str(3 * GiB), 3 * GiB),
        (3 * GiB, 3 * GiB),
    ],
)
def test_memory_sizes_are_read_in_the_units_people_write(text: str | int, size: int) -> None:
    assert memory.parse_size(text) == size


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("eight gigabytes", "not a memory size"),
        ("8 GiBs", "not a memory size"),
        ("-8GiB", "not a memory size"),
        ("", "not a memory size"),
        ("100MiB", "too small"),
    ],
)
def test_a_memory_size_that_cannot_be_used_says_why(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        memory.parse_size(text)


def test_the_default_budget_is_a_share_of_the_memory_there_is() -> None:
    assert memory.default_limit() == max(memory.MINIMUM, int(memory.available() * 0.6))
    assert memory.duckdb_limit(8 * GiB) == 4 * GiB


def test_the_memory_of_a_process_tree_counts_its_children() -> None:
    # a child holding 200 MiB: the tree holds at least that much more than this process alone
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; b = bytearray(200 * 2**20); sys.stdin.read()"],
        stdin=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while memory.tree_rss(child.pid) < 200 * 2**20 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert memory.tree_rss(child.pid) >= 200 * 2**20
        # this process (tens of MiB: Python, duckdb, pyarrow) and the child
        assert memory.tree_rss() >= memory.tree_rss(child.pid) + 20 * 2**20
    finally:
        child.stdin.close()  # type: ignore[union-attr]
        child.wait()


def test_the_memory_of_a_process_tree_counts_grandchildren_as_a_scan_of_proc_does() -> None:
    # a child whose own child holds 200 MiB: walked through the kernel's lists of children, the
    # tree holds what a scan of every process's status finds (the fallback without those lists)
    code = (
        "import subprocess, sys; subprocess.run([sys.executable, '-c', "
        "'import sys; b = bytearray(200 * 2**20); sys.stdin.read()'])"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while memory.tree_rss(child.pid) < 200 * 2**20 and time.monotonic() < deadline:
            time.sleep(0.05)
        walked, scanned = memory.tree_rss(), memory._scanned_tree_rss(os.getpid())
        assert walked >= 200 * 2**20
        assert abs(walked - scanned) < 0.05 * scanned
    finally:
        child.stdin.close()  # type: ignore[union-attr]
        child.wait()


@pytest.fixture
def session() -> duckdb.DuckDBPyConnection:
    """A build database in miniature: each tenant's input rows, and the engine's journal."""
    con = duckdb.connect()
    con.execute(journal.RUNS_DDL)
    con.execute(
        "create table inputs as select 't' || lpad((i % 7)::varchar, 2, '0') as tenant_id, i "
        "from range(70) t(i)"
    )
    yield con
    con.close()
    shards.configure(None)


def _work(session: duckdb.DuckDBPyConnection, failing: str | None = None):
    """A model's work: per tenant, its row count and sum; raises on a shard with ``failing``."""
    shard_sizes = []

    def work(only):
        rows = only(session.table("inputs")).aggregate(
            "tenant_id, count(*) as n, sum(i) as total", "tenant_id"
        )
        table = rows.order("tenant_id").to_arrow_table()
        if failing is not None and failing in table.column("tenant_id").to_pylist():
            raise RuntimeError(f"cannot fit {failing}")
        shard_sizes.append(table.num_rows)
        return table

    return work, shard_sizes


def _built(result) -> list[tuple]:
    # several shards: a reader that builds each when the one before has been read
    table = result if isinstance(result, pa.Table) else result.read_all()
    return sorted(zip(*(table.column(c).to_pylist() for c in table.column_names), strict=True))


def _sizes(session: duckdb.DuckDBPyConnection):
    return shards.rows_per_tenant(session.table("inputs"))


def test_shards_build_what_one_shard_builds(session) -> None:
    work, sizes = _work(session)
    shards.configure(None)
    whole = _built(shards.build(session, "model", _sizes(session), work))
    assert sizes == [7] and len(whole) == 7
    shards.configure(shards.Budget(limit=64 * GiB, duckdb=GiB, max_tenants=3))
    work, sizes = _work(session)
    assert _built(shards.build(session, "model", _sizes(session), work)) == whole
    assert sizes == [3, 3, 1]


def test_over_the_budget_tenants_are_built_one_at_a_time(session, caplog) -> None:
    shards.configure(shards.Budget(limit=1, duckdb=GiB))  # already over: nothing fits
    work, sizes = _work(session)
    with caplog.at_level(logging.WARNING, logger="recsql.engine.shards"):
        built = _built(shards.build(session, "model", _sizes(session), work))
    assert len(built) == 7 and sizes == [1] * 7
    assert "over the build's memory limit" in caplog.text


def test_a_failing_shard_is_split_until_the_tenant_that_fails_is_alone(session) -> None:
    shards.configure(shards.Budget(limit=64 * GiB, duckdb=GiB, max_tenants=4))
    work, sizes = _work(session, failing="t02")
    built = _built(shards.build(session, "model", _sizes(session), work))
    # t00-t03 fail together, then t00-t01 build, t02-t03 fail, t02 fails alone, t03 builds
    assert sizes == [2, 1, 3]
    # every other tenant is built, from its own rows
    assert [row[0] for row in built] == ["t00", "t01", "t03", "t04", "t05", "t06"]
    assert built[0] == ("t00", 10, sum(range(0, 70, 7)))
    # the failure is t02's, in the journal (engine_runs: the tenant fails, the build goes on)
    assert session.sql(
        "select tenant_id, model, error from main.recsql_engine_runs"
    ).fetchall() == [("t02", "model", "RuntimeError: cannot fit t02")]


def test_a_model_outside_the_journal_stops_the_build_on_a_failure(session) -> None:
    shards.configure(shards.Budget(limit=64 * GiB, duckdb=GiB, max_tenants=4))
    work, _ = _work(session, failing="t02")
    with pytest.raises(RuntimeError, match="cannot fit t02"):
        shards.build(session, "model", _sizes(session), work, recorded=False).read_all()


def test_the_command_refuses_a_memory_limit_it_cannot_use(tmp_path: Path) -> None:
    done = run_recsql("build", "--data", str(tmp_path), "--memory-limit", "100MB")
    assert done.returncode == 2
    assert "too small: a build needs at least 1.0 GiB" in done.stderr


LISTS = {
    "recommendations": "tenant_id, customer_id, rank, item_id, reason",
    "buy_again": "tenant_id, customer_id, rank, item_id, reason",
    "similar_items": "tenant_id, item_id, rank, similar_item_id",
    "popular_items": "tenant_id, country, rank, item_id",
    "trending_items": "tenant_id, rank, item_id",
    "tenant_champions": "tenant_id, champion, champion_variant",
    "model_registry": "tenant_id, status, algorithm",
}


@pytest.mark.slow
def test_a_world_built_in_shards_serves_the_lists_one_shard_serves(tmp_path: Path) -> None:
    from recsql.build import build

    data = tmp_path / "data"
    generate(data, tenants=4, customers=100, items=60, interactions=2000, seed=3)
    lines: list[str] = []
    build(data, tmp_path / "one.duckdb", as_of="2026-01-01")
    build(
        data,
        tmp_path / "many.duckdb",
        as_of="2026-01-01",
        extra_vars={"shard_tenants": 1},
        progress=lines.append,
    )
    # every engine model ran in shards of one tenant, and said so
    assert any("customer_candidates: shard 3 (1 tenants" in line for line in lines)
    assert any("holdout_candidates: shard 4 (1 tenants" in line for line in lines)
    for table, columns in LISTS.items():
        one = sorted(query(tmp_path / "one.duckdb", f"select {columns} from {table}"), key=repr)
        many = sorted(query(tmp_path / "many.duckdb", f"select {columns} from {table}"), key=repr)
        assert one, table
        assert many == one, table


def test_a_model_out_of_memory_is_reported_by_duckdb_s_error_not_its_advice() -> None:
    from recsql.build.runner import _exception_line

    traceback = """Traceback (most recent call last):
      File "/tmp/model.py", line 112, in model
    _duckdb.OutOfMemoryException: Out of Memory Error: could not allocate block (1.8 GiB used)

    Possible solutions:
    * Reducing the number of threads (SET threads=X)

    See also https://duckdb.org/docs/current/guides/performance/how_to_tune_workloads
    """
    assert _exception_line(traceback) == (
        "_duckdb.OutOfMemoryException: Out of Memory Error: could not allocate block (1.8 GiB used)"
    )
    assert _exception_line("Traceback\n  File x\nValueError: no rows") == "ValueError: no rows"


def test_a_shard_gets_back_the_memory_duckdb_kept_and_duckdb_its_limit(tmp_path: Path) -> None:
    """DuckDB keeps the blocks of the tables it read: once a shard's inputs are in Python it
    hands them back (the shard's numpy work needs the memory), and its memory_limit is the
    build's again afterwards. Outside a shard, or beside SQL models, nothing changes."""
    session = duckdb.connect(str(tmp_path / "build.duckdb"))
    session.execute(journal.RUNS_DDL)
    session.execute(
        "create table inputs as select 't00' as tenant_id, i, md5(i::varchar) as text "
        "from range(4000000) t(i)"
    )
    session.execute("checkpoint")  # the table's blocks are on disk: DuckDB may drop them
    budget = shards.Budget(limit=8 * GiB, duckdb=GiB)
    shards.configure(budget)
    session.execute(f"set memory_limit = '{budget.duckdb_setting}'")

    def held() -> int:
        return session.sql("select sum(memory_usage_bytes) from duckdb_memory()").fetchall()[0][0]

    def limit() -> str:
        return session.sql("select current_setting('memory_limit')").fetchall()[0][0]

    seen = []

    def work(only):
        rows = only(session.table("inputs")).order("text").to_arrow_table()
        before = held()
        shards.release_duckdb_memory()
        seen.append((before, held(), limit()))
        return rows.group_by("tenant_id").aggregate([("i", "count")])

    try:
        built = _built(shards.build(session, "model", _sizes(session), work))
        assert built == [("t00", 4_000_000)]
        [(before, after, limit_after)] = seen
        assert before > 32 * 2**20 and after <= 2**20
        assert limit_after == limit() == "1.0 GiB"
        session.table("inputs").order("text").to_arrow_table()
        cached = held()
        shards.release_duckdb_memory()  # not in a shard: DuckDB keeps what it has
        assert cached > 32 * 2**20 and held() == cached
        # a small build's Python models run beside SQL models (recsql/build/scheduling.py):
        # a query beside them may need DuckDB's memory, so neither it nor the limit is lowered
        seen.clear()
        session.execute("set memory_limit = '2GiB'")
        with shards.beside_sql_models(lambda: True):
            built = _built(shards.build(session, "model", _sizes(session), work))
            shards.python_memory_limit(session)
        assert built == [("t00", 4_000_000)]
        [(before, after, limit_after)] = seen
        assert before > 32 * 2**20 and after == before
        assert limit_after == limit() == "2.0 GiB"
    finally:
        shards.configure(None)
        session.close()


def test_duckdb_gets_most_of_the_budget_for_a_sql_model_and_half_for_a_python_one(
    tmp_path: Path,
) -> None:
    """Every SQL model's pre-hook (dbt_project.yml) sets DuckDB's memory_limit with the recsql
    dbt plugin's SQL function: a SQL model leaves Python little to hold (here, a small process
    in a budget of 8 GiB: the most a SQL model gets) - and sets nothing when the limit is
    already that (a set has DuckDB hand back its cached memory). A Python model's hook is
    empty (dbt would open its transaction for it); one that holds much in Python sets half the
    budget itself, and the next SQL model raises it again."""
    import jinja2

    from recsql.build.dbt_plugin import Plugin

    plugin = Plugin("recsql", {"data_dir": str(tmp_path), "memory_limit": str(8 * GiB)})
    macro = (Path(__file__).parents[1] / "macros" / "duckdb_memory_limit.sql").read_text()

    def found(rows: list[tuple[object, ...]]) -> SimpleNamespace:
        """What dbt's run_query gives: a table, by columns."""
        columns = [[row[i] for row in rows] for i in range(len(rows[0]))]
        return SimpleNamespace(columns=[SimpleNamespace(values=lambda c=c: c) for c in columns])

    def hook(language: str) -> str:
        return jinja2.Template(macro + "{{ duckdb_memory_limit() }}").render(
            model={"language": language},
            execute=True,
            run_query=lambda query: found(cursor.execute(query).fetchall()),
        )

    def limit() -> int:
        [(setting,)] = cursor.execute("select current_setting('memory_limit')").fetchall()
        return memory.parse_size(setting.replace(" ", ""))

    try:
        connection = duckdb.connect()
        plugin.define_memory_limit(connection)
        cursor = connection.cursor()  # dbt runs each model on a cursor
        cursor.execute("set memory_limit = '20GiB'")
        sql = hook("sql").strip()
        assert sql.startswith("set memory_limit")
        cursor.execute(sql)
        # DuckDB shows the limit rounded to a tenth of a GiB
        assert limit() == pytest.approx(0.7 * 8 * GiB, rel=0.02)
        assert hook("sql").strip() == ""  # the next SQL model: the limit is what it would set
        assert hook("python").strip() == ""
        shards.python_memory_limit(cursor)
        assert limit() == pytest.approx(0.5 * 8 * GiB, rel=0.02)
        cursor.execute(hook("sql"))
        assert limit() == pytest.approx(0.7 * 8 * GiB, rel=0.02)
    finally:
        shards.configure(None)


def test_a_sql_model_s_limit_is_set_only_where_it_must_change() -> None:
    """Lowered whenever the budget needs it (by more than DuckDB's rounding), raised by more
    than 5 %, left alone otherwise: setting DuckDB's limit, even to the same value, has it hand
    back its cached memory, to fault it in again in the next query."""
    held = memory.tree_rss()
    budget = shards.Budget(limit=held + 8 * GiB, duckdb=GiB, duckdb_sql=4 * GiB)
    assert shards.sql_memory_limit(budget, duckdb_held=0) == 4 * GiB
    assert shards.sql_memory_limit_change(budget, 0, current=4 * GiB) is None
    assert shards.sql_memory_limit_change(budget, 0, current=int(4.05 * GiB)) is None
    assert shards.sql_memory_limit_change(budget, 0, current=5 * GiB) == 4 * GiB
    assert shards.sql_memory_limit_change(budget, 0, current=int(3.9 * GiB)) is None
    assert shards.sql_memory_limit_change(budget, 0, current=int(3.7 * GiB)) == 4 * GiB
    assert shards.sql_memory_limit_change(budget, 0, current=20 * GiB) == 4 * GiB


def test_a_sql_model_gets_what_the_rest_of_the_process_tree_leaves() -> None:
    """DuckDB's limit for a SQL model: the budget less what the process tree holds besides
    DuckDB (and a margin for DuckDB's own overshoot), between a Python model's share and the
    SQL share - so a build process that still holds gigabytes after a large tenant's Python
    models does not go over its budget."""
    held = memory.tree_rss()
    budget = shards.Budget(limit=held + 3 * GiB, duckdb=GiB // 2, duckdb_sql=1000 * GiB)
    margin = budget.limit * shards.SQL_MARGIN
    room = shards.sql_memory_limit(budget, duckdb_held=0)
    assert 3 * GiB - margin - 0.3 * GiB < room < 3 * GiB - margin + 0.3 * GiB
    # what DuckDB holds of the tree's memory is its own: counted as room
    more = shards.sql_memory_limit(budget, duckdb_held=held // 2)
    assert more == pytest.approx(room + held // 2, abs=0.03 * GiB)
    # never more than the SQL share, never less than a Python model's
    assert shards.sql_memory_limit(replace(budget, duckdb_sql=2 * GiB), 0) == 2 * GiB
    assert shards.sql_memory_limit(replace(budget, limit=held // 2), 0) == GiB // 2


def test_the_allocators_are_trimmed_only_when_that_could_raise_a_sql_model_s_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # trimming only lowers what the tree holds: with room for the SQL share already, the limit
    # is that share whether or not the allocators hand back their free memory
    trims: list[int] = []
    monkeypatch.setattr(memory, "trim", lambda: trims.append(1))
    held = memory.tree_rss()
    roomy = shards.Budget(limit=held + 8 * GiB, duckdb=GiB, duckdb_sql=2 * GiB)
    assert shards.sql_memory_limit(roomy, duckdb_held=0) == 2 * GiB
    assert trims == []
    tight = replace(roomy, duckdb_sql=100 * GiB)
    assert shards.sql_memory_limit(tight, duckdb_held=0) < 100 * GiB
    assert trims == [1]


def test_a_shard_s_room_is_the_budget_less_what_the_process_tree_holds() -> None:
    # DuckDB's allowance, unused, is not set aside: a build whose process tree holds more than
    # the budget less DuckDB's limit still builds shards of more than one tenant
    held = memory.tree_rss()
    room = shards._room(shards.Budget(limit=held + 2 * GiB, duckdb=4 * GiB))
    assert 1.5 * GiB < room < 2.5 * GiB  # the tree's memory moves a little meanwhile


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_trimming_hands_back_what_the_allocator_kept_of_freed_memory() -> None:
    # 300 MiB in blocks of 4 KiB (malloc's heap, not Python's small-object arenas), freed
    # but for the last, which keeps the heap from shrinking: resident until trimmed
    script = """
from recsql import memory
blocks = [bytearray(4096) for _ in range(75_000)]
last = bytearray(4096)
before = memory.tree_rss()
del blocks
freed = memory.tree_rss()
memory.trim()
print(before, freed, memory.tree_rss())
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    before, freed, trimmed = map(int, done.stdout.split())
    assert freed > before - 100 * 2**20  # glibc kept most of it
    assert trimmed < freed - 200 * 2**20
