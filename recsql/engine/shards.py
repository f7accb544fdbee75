"""Tenants in shards: the engine's Python models build a group of tenants at a time, so that
their memory stays within the build's budget however many tenants there are.

A Python model hands :func:`build` the rows per tenant of its main input and a function that
builds the tenants it is given (``work(only)``: ``only(relation)`` keeps a relation's rows of
the shard's tenants). The first shard is sized from the budget with :data:`BYTES_PER_ROW`;
every shard is measured (the peak resident memory of the build's process tree while it runs,
worker processes included), and the next one is sized from what the last one took per input
row - so a shard that went over the budget is followed by smaller ones. A shard that raises is
split in two and built again; a tenant that fails alone is that tenant's failure (noted in the
engine's journal, :mod:`recsql.engine.journal`: it keeps its published lists), never the
build's. Results are the same whatever the shards: every tenant is built on its own rows only.

The budget is the build's (:mod:`recsql.memory`), set by the recsql dbt plugin when the build
opens its database (:func:`configure`); progress lines (one per shard, when there is more than
one) go to the build's progress (:func:`reporting`).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from recsql import memory, sql
from recsql.engine import journal

log = logging.getLogger(__name__)

#: What a shard is first taken to need per row of its model's main input, in bytes (the
#: inputs as Arrow and matrices, the models, the output rows): measured shards correct it.
BYTES_PER_ROW = 2_000
#: A shard's measured bytes per row are raised by this much for the next shard's size.
MARGIN = 1.25


@dataclass(frozen=True)
class Budget:
    """The build's memory budget, bytes, and the part of it that is DuckDB's: ``duckdb`` while
    a Python model runs, at most ``duckdb_sql`` (default: the same) while a SQL model runs
    (:func:`sql_memory_limit`)."""

    limit: int
    duckdb: int
    #: At most this many tenants per shard (None: as many as the budget allows).
    max_tenants: int | None = None
    duckdb_sql: int | None = None

    @property
    def duckdb_setting(self) -> str:
        """DuckDB's ``memory_limit`` while a Python model runs, as a setting's value."""
        return f"{self.duckdb // 2**20}MiB"


_budget: Budget | None = None
_progress: Callable[[str], None] | None = None
#: Whether the Python models run beside SQL models (a small build: :func:`beside_sql_models`).
_beside: Callable[[], bool] = bool  # bool() is False: alone
#: The DuckDB connection of a Python model while it builds a shard it may release memory of
#: (:func:`release_duckdb_memory`); None while DuckDB runs a query that reads the shards.
_session: contextvars.ContextVar[Any] = contextvars.ContextVar("recsql_shard", default=None)
#: DuckDB's memory limit for the moment it hands its memory back.
_RELEASED_LIMIT = "1MiB"


def configure(budget: Budget | None) -> None:
    """The budget of the build that runs in this process (None: no limit, one shard)."""
    global _budget
    _budget = budget


@contextlib.contextmanager
def reporting(progress: Callable[[str], None] | None) -> Iterator[None]:
    """Send a progress line per shard to ``progress`` inside the block."""
    global _progress
    previous, _progress = _progress, progress
    try:
        yield
    finally:
        _progress = previous


@contextlib.contextmanager
def beside_sql_models(beside: Callable[[], bool]) -> Iterator[None]:
    """Inside the block, while ``beside()``, the Python models may run beside SQL models (a
    small build: recsql/build/scheduling.py): they never lower DuckDB's memory limit, which a
    query running beside them may need (:func:`release_duckdb_memory`,
    :func:`python_memory_limit` do nothing). A model that started alone may see ``beside()``
    turn true as it runs: nothing runs beside it, so keeping its memory is only a waste."""
    global _beside
    previous, _beside = _beside, beside
    try:
        yield
    finally:
        _beside = previous


Only = Callable[[Any], Any]


def build(
    session: Any,
    model: str,
    sizes: Any,
    work: Callable[[Only], pa.Table],
    *,
    recorded: bool = True,
) -> pa.Table | pa.RecordBatchReader:
    """What ``work`` returns for every tenant of ``sizes`` (a DuckDB relation with tenant_id and
    rows: how many rows of the model's main input each tenant has), built shard by shard.

    ``work(only)`` builds the tenants of one shard: ``only(relation)`` is the relation's rows of
    those tenants. One shard: its table. Several: a reader that builds each shard when the one
    before has been read (dbt's materialization streams it into the model's table, so only one
    shard's rows are ever in Python). ``recorded``: the model's runs are recorded in the
    engine's journal (``model`` is in ``engine_runs``), so a tenant that fails alone is that
    tenant's failure; otherwise the error stops the build.
    """
    tenants = [(tenant, int(rows)) for tenant, rows in sizes.order("tenant_id").fetchall()]
    releasing = _session.set(session)
    try:
        if _budget is None or not tenants:
            with journal.recording(session, model):
                return work(lambda relation: relation)
        built = _each_shard(session, model, tenants, work, _budget, recorded)
        first, last = next(built, (None, True))
    finally:
        # the shards after the first are built while dbt's insert reads them: DuckDB is busy
        _session.reset(releasing)
    if first is None:  # nothing built: the empty table, as the work makes it
        return work(_only([]))
    if last:
        return first
    schema, pending = first.schema, [first]
    del first

    def batches() -> Iterator[pa.RecordBatch]:
        yield from pending.pop().to_batches()
        for table, _ in built:
            yield from table.cast(schema).to_batches()

    return pa.RecordBatchReader.from_batches(schema, batches())


def _each_shard(
    session: Any,
    model: str,
    tenants: list[tuple[str, int]],
    work: Callable[[Only], pa.Table],
    budget: Budget,
    recorded: bool,
) -> Iterator[tuple[pa.Table, bool]]:
    """Each shard's table, and whether it is the last, sized as the module says."""
    queue = list(reversed(tenants))  # the next tenant last
    halves: list[list[tuple[str, int]]] = []  # of a shard that failed: built next, in order
    bytes_per_row = float(BYTES_PER_ROW)
    built, number = 0, 0
    while queue or halves:
        # what the models before this one left cached, what DuckDB kept of writing the last
        # shard's rows (the first shard only: DuckDB is writing the others' as they come), and
        # what the allocator keeps of the memory the last shard freed: released before the
        # room is measured, or a shard after a large one would be sized as if that memory were
        # taken (shards of one tenant, then of hundreds, alternately)
        release_duckdb_memory()
        memory.trim()
        if halves:
            shard = halves.pop()
        else:
            room = _room(budget)
            shard = _take(queue, max(1, int(room / bytes_per_row)), budget.max_tenants)
        number += 1
        rows = sum(n for _, n in shard)
        started, before = time.perf_counter(), memory.tree_rss()
        try:
            with _peak_rss() as peak, journal.recording(session, model):
                table = work(_only(shard))
        except Exception as error:  # a shard's failure is its tenants', not the build's
            if len(shard) > 1:
                log.warning(
                    "%s: a shard of %d tenants failed (%s); building it in two halves",
                    model,
                    len(shard),
                    journal.describe(error),
                )
                half = len(shard) // 2
                halves += [shard[half:], shard[:half]]
                bytes_per_row *= 2
                continue
            if not recorded:
                raise
            tenant = shard[0][0]
            log.error("tenant %s: %s failed: %s", tenant, model, journal.describe(error))
            with journal.recording(session, model):
                journal.note(
                    [journal.Run(tenant, None, time.perf_counter() - started, _failure(error))]
                )
            built += 1
            continue
        seconds = time.perf_counter() - started
        built += len(shard)
        if peak.value > budget.limit:
            log.warning(
                "%s: shard %d took %s, over the build's memory limit (%s): smaller shards follow",
                model,
                number,
                memory.format_size(peak.value),
                memory.format_size(budget.limit),
            )
        if rows:
            used = max(0, peak.value - before) / rows * MARGIN
            bytes_per_row = max(used, bytes_per_row / 4, 100.0)
        last = not queue and not halves
        if number > 1 or not last:
            _report(
                f"      {model}: shard {number} ({len(shard):,} tenants, {rows:,} rows) "
                f"{seconds:.1f}s, peak {memory.format_size(peak.value)}; "
                f"{built:,}/{len(tenants):,} tenants"
            )
        yield table, last
        del table


#: DuckDB's resident memory runs over its memory_limit by up to about this share of the budget.
SQL_MARGIN = 0.05


def sql_memory_limit(budget: Budget, duckdb_held: int) -> int:
    """DuckDB's ``memory_limit``, bytes, for a SQL model about to run, while DuckDB holds
    ``duckdb_held`` bytes: what the budget leaves it once the rest of the process tree (the
    build process's Python, the engine's workers) is counted - after Python's allocators handed
    back the memory they keep for reuse (a fixed 70 % took the 20 M-interaction tenant's build
    to 8.5 of its 8 GiB) - at least a Python model's share, at most ``budget.duckdb_sql``.

    The allocators are asked only when what the tree holds would keep DuckDB under that most:
    handing back can only leave more room, and walking their free lists before each of a
    build's ~80 SQL models is time wasted when there is room enough (the demo's, every time)."""
    most = budget.duckdb_sql or budget.duckdb

    def room() -> int:
        others = max(0, memory.tree_rss() - duckdb_held)
        return budget.limit - others - int(budget.limit * SQL_MARGIN)

    if (left := room()) < most:
        memory.trim()
        pa.default_memory_pool().release_unused()
        left = room()
    return max(budget.duckdb, min(most, left))


#: A SQL model's limit is raised only when it would grow by more than this share: a tight
#: build's SQL models should not stay at a Python model's half where they may have more (half
#: of 8 GiB cost the 4,000-tenant build's `list_candidates` 78 s instead of 50:
#: memory.DUCKDB_SQL_SHARE).
RAISE_ABOVE = 0.05
#: ... and lowered only when it would shrink by more than this share (DuckDB shows its limit
#: rounded to a tenth of a GiB; SQL_MARGIN, not this, keeps the tree within its budget).
LOWER_BELOW = 0.02


def sql_memory_limit_change(budget: Budget, duckdb_held: int, current: int) -> int | None:
    """DuckDB's new ``memory_limit``, bytes, for a SQL model about to run, or None to keep the
    ``current`` one: :func:`sql_memory_limit`, but only where it is lower than ``current``
    (the budget needs it) or more than :data:`RAISE_ABOVE` higher (the query would spill
    before its share) - as after a Python model, whose limit is half the budget.

    Setting the limit costs more than the statement: DuckDB then hands its cached memory back
    to the system, whatever the new value - even the same one (1.2 GiB resident → 0.3 GiB in a
    test) - and the next queries fault it in again. Set before each of a build's ~80 SQL
    models, that cost the 1,000-tenant night about 0.5 s of its 23 s (system time 4.9 → 4.2
    s); most of them need no change: the one after a Python model does (its limit is half the
    budget), the next ones find the limit they would set."""
    wanted = sql_memory_limit(budget, duckdb_held)
    if wanted < current * (1 - LOWER_BELOW) or wanted > current * (1 + RAISE_ABOVE):
        return wanted
    return None


def release_duckdb_memory() -> None:
    """Have DuckDB hand back to the system the memory it keeps after its queries: the cached
    blocks of the tables it read, and what its allocator holds for reuse (reading 20 M sorted
    rows into Arrow leaves about 1.5 GiB resident besides the Arrow table). Called when a
    shard's inputs are in Python and before it starts: its numpy work needs the memory, and
    DuckDB reads again from its file what it needs later. Only inside :func:`build` of a build
    with a budget whose Python models run alone, while no query is running (a no-op
    elsewhere)."""
    session = _session.get()
    if session is None or _budget is None or _beside():
        return
    try:
        session.execute(f"set memory_limit = '{_RELEASED_LIMIT}'")
    except duckdb.Error as error:  # blocks in use: DuckDB gave back what it could
        log.debug("DuckDB kept some memory: %s", error)
    finally:
        python_memory_limit(session)


def python_memory_limit(session: Any) -> None:
    """DuckDB's memory_limit of a Python model (half the budget: the model's Python side holds
    the rest), for a model that holds much in Python outside :func:`build` - a SQL model before
    it may have left DuckDB more (every model's pre-hook, macros/duckdb_memory_limit.sql). A
    no-op without a budget, or beside SQL models."""
    if _budget is None or _beside():
        return
    try:
        session.execute(f"set memory_limit = '{_budget.duckdb_setting}'")
    except duckdb.Error as error:  # blocks in use: it stays where it is, DuckDB spills beyond
        log.debug("DuckDB's memory limit not lowered: %s", error)


def _failure(error: BaseException) -> str:
    """Why a tenant that failed alone failed, as the journal keeps it."""
    if isinstance(error, MemoryError) or "Out of Memory" in str(error):
        return f"out of memory even in a shard of its own ({journal.describe(error)})"
    return journal.describe(error)


def _room(budget: Budget) -> float:
    """What a shard may take now: the budget less what the process tree holds, DuckDB's
    memory included. What DuckDB may still claim of its own limit is not set aside: the
    queries of a shard are part of what the shard is measured to take per row, and DuckDB
    writes the shards' rows between shards, where the next shard's room sees it. (Setting all
    of DuckDB's limit aside too left no room in a 4,000-tenant build: one-tenant shards.)"""
    return budget.limit - memory.tree_rss()


def _take(
    queue: list[tuple[str, int]], rows: int, max_tenants: int | None
) -> list[tuple[str, int]]:
    """Tenants from the end of ``queue`` up to ``rows`` input rows (at least one tenant)."""
    shard = [queue.pop()]
    total = shard[0][1]
    while queue and total + queue[-1][1] <= rows:
        if max_tenants is not None and len(shard) >= max_tenants:
            break
        total += queue[-1][1]
        shard.append(queue.pop())
    return shard


def _only(shard: list[tuple[str, int]]) -> Only:
    ids = ", ".join(sql.literal(tenant) for tenant, _ in shard) or "null"
    return lambda relation: relation.filter(f"tenant_id in ({ids})")


def _report(line: str) -> None:
    log.info(line.strip())
    if _progress is not None:
        _progress(line)


@dataclass
class _Peak:
    value: int = 0


@contextlib.contextmanager
def _peak_rss(interval: float = 0.1) -> Iterator[_Peak]:
    """The peak of :func:`recsql.memory.tree_rss` while the block runs, sampled."""
    peak, stop = _Peak(memory.tree_rss()), threading.Event()

    def sample() -> None:
        while not stop.wait(interval):
            peak.value = max(peak.value, memory.tree_rss())

    sampler = threading.Thread(target=sample, name="recsql-shard-memory", daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        stop.set()
        sampler.join()
        peak.value = max(peak.value, memory.tree_rss())


def rows_per_tenant(relation: Any) -> Any:
    """``relation``'s rows per tenant (tenant_id, rows): what :func:`build` sizes shards by."""
    return relation.aggregate("tenant_id, count(*) as rows", "tenant_id")
