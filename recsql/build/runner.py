"""Running a build: check the inputs, run ``dbt build`` in-process, report what happened.

``recsql build`` is ``dbt build`` with the project's variables filled in from the command line,
a working directory of its own next to the served database, progress lines instead of dbt's
log, and a summary read back from the build: rows read, accepted and quarantined. It is also
the one writer of the state database (:mod:`recsql.lifecycle.state`) for the length of the
build: it settles what a killed build left unfinished, registers this build (its id and its
clock, ``as_of``) before dbt starts, and records a failure; the publication records the rest
around the swap.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import re
import shutil
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import yaml  # type: ignore[import-untyped]

from recsql import __version__, contract, memory, sql
from recsql.build import inputs, scheduling
from recsql.build.publish import fault_point
from recsql.engine import shards, workers
from recsql.lifecycle import state

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


class ProjectNotFound(RuntimeError):
    pass


class BuildFailed(RuntimeError):
    """dbt ran, and a model or a test failed: nothing was published."""

    def __init__(self, failures: list[str]):
        self.failures = failures
        super().__init__(
            "The build failed and nothing was published: the served database was not changed.\n"
            + "\n".join(failures)
        )


class InputRefused(BuildFailed):
    """dbt stopped on the input itself, before anything was published: a rule of every tenant
    (``*``), or of no tenant of the build, that is rejected or that the guard refuses, or a
    tenants row that names no tenant. A contract error like those the input check finds before
    dbt starts (``recsql build`` exits 2 for both)."""


#: The nodes whose failure is :class:`InputRefused`: they fail the build only for rows no
#: single tenant's failure can hold (a tenant's own rejected or refused rule, its settings row
#: out of range, fail that tenant: docs/lifecycle.md).
INPUT_GATES = frozenset(
    {
        "model rules_guarded",
        "test no_rejected_rows_stg_rules_validated",
        "test no_rejected_rows_stg_tenants_validated",
    }
)


def _failed_results(result: Any) -> list[Any]:
    """The results of the nodes a dbt run failed or errored on."""
    return [
        node_result
        for node_result in getattr(result.result, "results", []) or []
        if str(node_result.status).lower() in ("error", "fail", "runtime error")
    ]


def _failed_nodes(result: Any) -> set[str]:
    """The nodes a dbt run failed or errored on ("model rules_guarded")."""
    return {f"{failed.node.resource_type} {failed.node.name}" for failed in _failed_results(result)}


def project_dir() -> Path:
    """The recsql dbt project: the checkout this package was installed from, or the cwd."""
    candidates = [Path(__file__).resolve().parents[2], Path.cwd()]
    for candidate in candidates:
        if (candidate / "dbt_project.yml").is_file() and (candidate / "models").is_dir():
            return candidate
    raise ProjectNotFound(
        "Cannot find the recsql dbt project (dbt_project.yml). Run from the project directory "
        "or install recsql from its checkout (pip install -e .)."
    )


def work_dir_for(db_path: Path) -> Path:
    """Where a build of ``db_path`` keeps its scratch database, dbt artifacts and logs."""
    return db_path.with_name(db_path.name + ".build")


#: What dbt parses of the project: a change to any of these files makes a new parse.
_PARSED = ("dbt_project.yml", "profiles.yml", "models", "macros", "tests/dbt", "seeds")


def _digest_files(digest: Any, top_dir: Path, names: Iterable[str]) -> None:
    """Add the names and bytes of the files ``names`` (files or folders) under ``top_dir``."""
    for name in names:
        top = top_dir / name
        for path in sorted([top] if top.is_file() else top.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(f"\0{path.relative_to(top_dir)}\0".encode())
                digest.update(path.read_bytes())


@functools.cache
def code_fingerprint(project: Path) -> str:
    """A fingerprint of the code that makes the lists: recsql's version and Python files and
    the project's (``project``) dbt files. A tenant's lists are kept by the next build only if
    they were made by the same code (models/lifecycle/tenant_input_fingerprints)."""
    digest = hashlib.sha256(__version__.encode())
    _digest_files(digest, project, _PARSED)
    _digest_files(digest, Path(__file__).resolve().parents[1], ["."])
    return digest.hexdigest()[:32]


def parse_cache_for(project: Path) -> Path:
    """Where builds of ``project`` keep dbt's parse of it between runs (partial_parse.msgpack):
    in the user's cache directory, under a fingerprint of the project's files and the dbt
    version. dbt's partial parsing of a *changed* project can miss a change (a test's
    description did not reach its node), so a parse is only ever reused for the very same
    files: a change to any of them, or a new recsql, makes a full parse. Deleting the cache is
    always safe."""
    from dbt.version import __version__ as dbt_version

    digest = hashlib.sha256(f"{project.resolve()}\0{dbt_version}".encode())
    _digest_files(digest, project, _PARSED)
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "recsql"
    return root / f"dbt-parse-{digest.hexdigest()[:24]}.msgpack"


@dataclass(frozen=True)
class TableCounts:
    source_table: str
    rows_read: int
    rows_accepted: int
    rows_quarantined: int


@dataclass(frozen=True)
class BuildResult:
    db_path: Path
    build_db: Path
    seconds: float
    build_id: str = ""
    state_path: Path | None = None
    counts: list[TableCounts] = field(default_factory=list)
    #: (source_table, reason, rows), most frequent first.
    reasons: list[tuple[str, str, int]] = field(default_factory=list)
    tenants: int = 0
    #: How many tenants each outcome had (promoted, kept, not_due, frozen, off).
    outcomes: dict[str, int] = field(default_factory=dict)
    #: How many tenants kept their published lists, their inputs unchanged (carried).
    carried: int = 0
    #: How many of those were carried before their interactions were staged (their raw rows
    #: unchanged: docs/lifecycle.md), so that the build validated none of their interactions.
    carried_before_staging: int = 0
    #: The build's JSON report (:func:`write_report`).
    report_path: Path | None = None
    #: (tenant_id, reason) of each tenant this build failed: published with the rest, it keeps
    #: its previous lists minus what today's rules forbid (``recsql build`` exits 3).
    failed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        return sum(c.rows_read for c in self.counts)

    @property
    def rows_accepted(self) -> int:
        return sum(c.rows_accepted for c in self.counts)

    @property
    def rows_quarantined(self) -> int:
        return sum(c.rows_quarantined for c in self.counts)


_TEST_STATUSES = {"pass": "passed", "fail": "failed", "warn": "warned", "error": "errored"}


class _ProgressPrinter:
    """Turns dbt's events into progress lines: one per finished model or seed, numbered 1, 2,
    ... in the order they finish, out of all the models and seeds of the build. Tests are
    counted, and only one that does not pass gets a line; :meth:`summary` ends with the counts.

    dbt's own numbers count every node it runs (tests and unit tests too) in the order they
    start: printed for models only, they had gaps and came out of order.
    """

    def __init__(self, progress: Progress, total: int):
        self.progress = progress
        self.total = total
        self.width = len(str(total))
        self.finished: Counter[str] = Counter()
        self.skipped = 0
        self.tests: Counter[str] = Counter()

    def __call__(self, event: Any) -> None:
        # An exception escaping a callback would abort dbt's worker: never let one out.
        try:
            self._report(event)
        except Exception:
            log.debug("Cannot report dbt event %s", event.info.name, exc_info=True)

    def _report(self, event: Any) -> None:
        name, data = event.info.name, event.data
        if name in ("LogModelResult", "LogSeedResult"):
            status = str(data.status).lower()
            status = "ok" if status == "success" else status  # seeds say success, models ok
            self.finished[status] += 1
            counter = f"[{self.finished.total():>{self.width}}/{self.total}]"
            self._line(counter, data.node_info.node_name, status, data.execution_time)
        elif name == "SkippingDetails" and data.resource_type in ("model", "seed"):
            self.skipped += 1
        elif name == "LogTestResult":
            status = str(data.status).lower()
            self.tests[status] += 1
            if status != "pass":
                counter = f"[{'test':^{2 * self.width + 1}}]"
                self._line(counter, data.name, status, data.execution_time)

    def _line(self, counter: str, label: str, status: str, seconds: float) -> None:
        self.progress(f"  {counter} {label:<44} {status:<7} {seconds:6.2f}s")

    def summary(self) -> None:
        """The counts, once dbt is done: models and seeds built, skipped; tests by status."""
        built = f"{self.finished['ok']}/{self.total} models and seeds built"
        failed = self.finished.total() - self.finished["ok"]
        if failed:
            built += f", {failed} failed"
        if self.skipped:
            built += f", {self.skipped} skipped after a failure"
        tests = ", ".join(
            f"{count} {_TEST_STATUSES.get(status, status)}"
            for status, count in sorted(self.tests.items(), key=lambda item: item[0] != "pass")
        )
        self.progress(f"  {built}; tests: {tests or 'none'}")


def _failing_rows(build_db: Path, relation: str) -> list[str]:
    """What a failed data test stored (``store_failures``), one line per row: the row's
    ``message`` if the test gives one, else every column; the first few, then how many more."""
    con = duckdb.connect(str(build_db), read_only=True)
    try:
        names = [d[0] for d in con.execute(f"select * from {relation} limit 0").description]
        limit = 20 if "message" in names else 5
        [(count,)] = con.execute(f"select count(*) from {relation}").fetchall()
        order = ", ".join(sql.identifier(name) for name in names)
        if "message" in names:
            rows = con.execute(f"select message from {relation} order by {order} limit {limit}")
            lines = [str(message) for (message,) in rows.fetchall()]
        else:
            rows = con.execute(f"select * from {relation} order by {order} limit {limit}")
            lines = [
                ", ".join(f"{n}={v!r}" for n, v in zip(names, row, strict=True))
                for row in rows.fetchall()
            ]
    except duckdb.Error:
        return []
    finally:
        con.close()
    if count > limit:
        lines.append(f"... and {count - limit} more: select * from {relation} in {build_db}")
    return lines


def _failures(result: Any, build_db: Path, keep_build_db: bool) -> list[str]:
    """One line per failed node, each failing test followed by its rows (or their messages)
    and by its description, which says how to fix the input."""
    if result.exception is not None:
        return [str(result.exception)]
    failures = []
    for node_result in _failed_results(result):
        node = node_result.node
        message = str(node_result.message)
        if "Traceback" in message:  # a Python model: its exception says what is wrong
            message = _exception_line(message)
        failures.append(f"{node.resource_type} {node.name}: {message}")
        relation = getattr(node, "relation_name", None)
        if node.resource_type == "test" and relation and build_db.exists():
            failures += [f"    {row}" for row in _failing_rows(build_db, relation)]
        description = node.description or _test_descriptions().get(node.name, "")
        if node.resource_type == "test" and description:
            failures += textwrap.wrap(
                " ".join(description.split()),
                width=96,
                initial_indent="  ",
                subsequent_indent="  ",
            )
    if not failures:
        return ["dbt reported a failure (see the log in the build directory)."]
    if keep_build_db and build_db.exists():
        failures.append(f"The build database, to look closer: {build_db}")
    elif build_db.exists():
        failures.append(
            "To look closer, build again with --keep-build-db: the build database is deleted "
            "when a build ends (it holds every input row)."
        )
    return failures


def _exception_line(traceback: str) -> str:
    """The line of a Python traceback that names the exception and its message (the last
    such: DuckDB's messages go on with lines of advice after it), else its last line."""
    lines = [line.strip() for line in traceback.splitlines() if line.strip()]
    named = [line for line in lines if re.match(r"[\w.]+(Error|Exception|Interrupt)\b.*:", line)]
    return named[-1] if named else lines[-1]


def _test_descriptions() -> dict[str, str]:
    """The descriptions of the singular data tests (tests/dbt/**/*.yml), by name: what a
    failing one prints. Read here too because a manifest loaded from dbt's partial parse can
    lack them (seen with dbt-core 1.11)."""
    found = {}
    for path in (project_dir() / "tests" / "dbt").rglob("*.yml"):
        for test in (yaml.safe_load(path.read_text()) or {}).get("data_tests", []):
            found[test["name"]] = str(test.get("description") or "")
    return found


def _release_dbt_database() -> int:
    """Close the database dbt-duckdb keeps open in this process after a run, so the build
    database can be read (or built again) from here; return how many tenants the build
    carried before staging (:func:`_carried_before_staging`; 0 without a database).

    Without a checkpoint: the build database is scratch, every table in it is already in the
    file, and its write-ahead log replays in an instant when it is opened again (a checkpoint
    at close cost 10 s of a 1,000-tenant build). The next build starts from a new file
    (:func:`_fresh_build_database`), so the log never accumulates.
    """
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    carried = 0
    # env() raises if no environment was created (dbt stopped before connecting).
    with contextlib.suppress(Exception):
        environment = DuckDBConnectionManager.env()
        connection = getattr(environment, "conn", None)  # the local environment's database
        if connection is not None:
            connection.execute("pragma disable_checkpoint_on_shutdown")
            with contextlib.suppress(duckdb.Error):
                carried = _carried_before_staging(connection)
        environment.close()
    DuckDBConnectionManager.close_all_connections()
    return carried


def _fresh_build_database(build_db: Path) -> None:
    """Remove the previous build's scratch database: dbt rebuilds every table of it, and a
    new file needs no replay of the old one's write-ahead log."""
    _discard_build_database(build_db)


def _discard_build_database(build_db: Path) -> None:
    """Delete the scratch database and its write-ahead log: the files, not their rows (a
    DELETE leaves the bytes in the file). A build killed before this is cleaned up by the next
    one (:func:`_fresh_build_database`)."""
    for path in (build_db, build_db.with_name(build_db.name + ".wal")):
        path.unlink(missing_ok=True)


def _carried_before_staging(con: duckdb.DuckDBPyConnection) -> int:
    """How many tenants the build carried before staging their interactions
    (models/staging/stg_carried_tenants), read from the build database it just ran, while dbt
    still has it open (opened again, its write-ahead log is replayed: 0.3 s at 1,000
    tenants)."""
    found = con.execute(
        "select schema_name from duckdb_tables() "
        "where database_name = current_database() and table_name = 'stg_carried_tenants'"
    ).fetchall()
    if len(found) != 1:  # a model that failed, or did not run
        return 0
    [(schema,)] = found
    [(carried,)] = con.execute(
        f"select count(*) from {sql.identifier(schema)}.stg_carried_tenants"
    ).fetchall()
    return int(carried)


def read_counts(db_path: Path) -> tuple[list[TableCounts], list[tuple[str, str, int]], int]:
    """Row accounting and quarantine reasons, as published in the served database."""
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        counts = [
            TableCounts(*row)
            for row in con.execute(
                "select source_table, sum(rows_read), sum(rows_accepted), sum(rows_quarantined) "
                "from input_row_counts group by source_table order by sum(rows_read) desc"
            ).fetchall()
        ]
        reasons = [
            (table, reason, rows)
            for table, reason, rows in con.execute(
                "select source_table, reason, count(*) from quarantined_rows "
                "group by all order by 3 desc, 1, 2"
            ).fetchall()
        ]
        [(tenants,)] = con.execute("select count(*) from tenant_settings").fetchall()
        return counts, reasons, tenants
    finally:
        con.close()


#: The data tests of recsql's own code - a model's rows are unique, a column is never NULL or
#: holds only known values - run by the test suite with the unit tests (``build(...,
#: code_tests=True)``), not by a production build: on the demo, 79 of its 90 data tests and
#: 8 of its 45 seconds (docs/architecture.md).
CODE_TEST_NAMES = ("unique_combination", "unique", "not_null", "accepted_values")

#: What ``--retrain`` accepts (tenant_plans reads it as the dbt var ``retrain``).
RETRAIN_CHOICES = ("due", "all", "none")


def build(
    data_dir: Path | str,
    db_path: Path | str = "recsql.duckdb",
    *,
    as_of: str | None = None,
    progress: Progress | None = None,
    extra_vars: dict[str, Any] | None = None,
    state_path: Path | str | None = None,
    encodings: Mapping[str, str] | None = None,
    retrain: str = "due",
    tenants: Sequence[str] = (),
    code_tests: bool = False,
    keep_build_db: bool = False,
    memory_limit: str | int | None = None,
) -> BuildResult:
    """Build the inputs in ``data_dir`` and publish them to ``db_path``, recorded in the state
    database ``state_path`` (default: :func:`recsql.lifecycle.state.default_path`).

    ``as_of`` is the build's clock (ISO timestamp; default: now, UTC).

    ``retrain``: which tenants train a new version - ``due`` (those a trigger fires for, and
    those without a version), ``all``, or ``none`` (only those without a version); the others
    are served by their active version (docs/lifecycle.md).

    ``tenants``: build only these (default: all); the others keep the lists of the served file,
    minus what today's rules forbid, and get no build_history row.

    ``encodings`` states the encoding of a table's CSV files where it is neither UTF-8 nor
    marked by a byte-order mark, by table name: ``{"items": "cp1252"}``.

    ``code_tests``: also run the tests of recsql's own code - the dbt unit tests and the data
    tests named in :data:`CODE_TEST_NAMES` (the test suite does). A production build runs the
    data tests that guard what is published: the accounting of the input rows, each tenant's
    accepted input and rejected rows, the compliance of the lists.

    ``memory_limit``: the memory the whole build may use (bytes, or a size such as "8GiB";
    default: 60 % of the machine's or the container's memory) - DuckDB gets up to 70 % of it as its
    ``memory_limit`` while a SQL model runs, half while a Python model runs, and spills beyond
    it; the engine's Python models build tenants in shards that fit the rest
    (:mod:`recsql.memory`, :mod:`recsql.engine.shards`).

    ``keep_build_db``: keep the scratch database (``<db>.build/build.duckdb``, every input row
    and every intermediate table) after the build, to look closer. By default it is deleted
    when the build ends, succeeded or failed: it holds the rows of customers who asked to be
    forgotten (docs/privacy.md). ``BuildResult.build_db`` names it either way.

    Raises :class:`recsql.build.inputs.ContractError` before anything runs if the inputs break the
    contract, :class:`recsql.lifecycle.state.StateError` if the state file is busy or cannot be
    used, and :class:`BuildFailed` if a model or test fails (the served file is unchanged).
    A failure of one tenant (a rejected settings row or rule of its own, a rule the guard
    refuses) does not raise: the build publishes, and ``BuildResult.failed`` lists it.
    """
    started = time.perf_counter()
    data_dir = Path(data_dir).resolve()
    db_path = Path(db_path).resolve()
    clock = _as_of(as_of)
    if retrain not in RETRAIN_CHOICES:
        raise ValueError(f"retrain must be one of {', '.join(RETRAIN_CHOICES)}, got {retrain!r}")
    budget = memory.parse_size(memory_limit) if memory_limit else memory.default_limit()
    # Stop at once, with a clear message, on a contract error. Quietly: the dbt plugin checks
    # again when dbt opens the database and prints the warnings (once).
    located = inputs.locate_all(
        data_dir, warn=False, encodings=encodings, events_dir=contract.events_directory(db_path)
    )
    # A fleet's tenants are trained on the engine's worker processes: they start now, while
    # dbt parses the project on one core, rather than in the first model that uses them.
    with contextlib.suppress(OSError, ValueError):  # a guess: what it cannot read, dbt will
        if inputs.estimated_rows(located["tenants"]) >= workers.PROCESS_POOL_MIN_TASKS:
            workers.start()
    # A small build's Python models run beside its SQL models (recsql/build/scheduling.py).
    smallness = scheduling.Smallness(None, budget)
    with contextlib.suppress(OSError, ValueError):  # what it cannot read, dbt will: alone
        smallness.interactions = inputs.rows_at_most(located["interactions"])
    extra_vars = {
        **({"encodings": dict(encodings)} if encodings else {}),
        "retrain": retrain,
        "memory_limit": budget,
        **({"tenants": list(tenants)} if tenants else {}),
        **(extra_vars or {}),
    }
    state_path = Path(state_path).resolve() if state_path else state.default_path(db_path)
    with state.Writer(state_path) as writer:
        for build_id, status in writer.reconcile(db_path):
            log.warning("Build %s did not finish; the state now says %s.", build_id, status)
        registered = writer.begin(as_of=clock, data_dir=data_dir, db_path=db_path)
        fault_point("running")
        try:
            result, unstaged = _run_dbt(
                data_dir,
                db_path,
                registered,
                progress,
                extra_vars,
                code_tests,
                keep_build_db,
                smallness,
            )
        except BaseException as error:
            writer.fail(registered, _failure_summary(error))
            if not keep_build_db:
                _discard_build_database(work_dir_for(db_path) / "build.duckdb")
            raise
    if not keep_build_db:
        _discard_build_database(result)
    counts, reasons, tenant_count = read_counts(db_path)
    seconds = time.perf_counter() - started
    report_path = work_dir_for(db_path) / "report.json"
    report = write_report(db_path, report_path, seconds, carried_before_staging=unstaged)
    return BuildResult(
        db_path=db_path,
        build_db=result,
        seconds=seconds,
        build_id=registered.build_id,
        state_path=state_path,
        counts=counts,
        reasons=reasons,
        tenants=tenant_count,
        outcomes=report["tenants_by_outcome"],
        carried=report["tenants_carried"],
        carried_before_staging=unstaged,
        report_path=report_path,
        failed=[
            (row["tenant_id"], row["reason"])
            for row in report["tenants"]
            if row["outcome"] == "failed"
        ],
    )


def write_report(
    db_path: Path, report_path: Path, seconds: float, carried_before_staging: int = 0
) -> dict[str, Any]:
    """The build's report, as JSON in ``report_path`` (and returned): what it did for the
    fleet, from the published ``build_history`` and ``model_registry`` — tenants by mode,
    trigger and outcome, the versions it trained, promoted and rejected, the tenants whose new
    version scored below the version it was compared with, and one row per tenant."""
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        [(build_id, as_of)] = con.execute("select build_id, as_of from build_info").fetchall()

        def rows(query: str) -> list[dict[str, Any]]:
            cursor = con.execute(query, [build_id])
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

        def counted(column: str) -> dict[str, int]:
            found = con.execute(
                f"select {column}, count(*) from build_history where build_id = ? "
                "group by all order by 2 desc, 1",
                [build_id],
            ).fetchall()
            return {str(key): int(n) for key, n in found}

        # the registry's rows whose status this build decided
        decided = (
            "select tenant_id, version, status, ndcg, active_ndcg, reason "
            "from recsql_data.model_registry "
            "where status_build_id = ? order by tenant_id, version"
        )
        changed = rows(decided)
        report = {
            "build_id": build_id,
            "as_of": as_of.isoformat(sep=" "),
            "seconds": round(seconds, 1),
            "tenants_by_mode": counted("mode"),
            "tenants_by_trigger": counted("trigger"),
            "tenants_by_outcome": counted("outcome"),
            # kept their published lists: their inputs had not changed (docs/lifecycle.md)
            "tenants_carried": counted("carried").get("True", 0),
            # of those, the tenants whose interactions the build did not even validate
            "tenants_carried_before_staging": carried_before_staging,
            "versions": {
                status: sum(1 for row in changed if row["status"] == status)
                for status in ("active", "candidate", "rejected", "superseded", "retired")
            },
            "ndcg_drops": [
                row
                for row in changed
                if row["status"] in ("active", "candidate", "rejected")
                and row["ndcg"] is not None
                and row["active_ndcg"] is not None
                and row["ndcg"] < row["active_ndcg"]
            ],
            "tenants": rows(
                "select tenant_id, mode, trigger, outcome, reason, version, ndcg, active_ndcg, "
                "fit_seconds from build_history where build_id = ? order by tenant_id"
            ),
        }
    finally:
        con.close()
    report_path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return report


def _parse(project: Path, work: Path, paths: list[str], build_db: Path) -> Any:
    """dbt's manifest of the project, parsed without this build's vars: nothing dbt parses
    reads them (the models read them when they run, e.g. models/serving/build_context.sql), so
    the parse is the same for every build of the same project files, and dbt reuses it
    (:func:`parse_cache_for`) - half a second instead of six."""
    from dbt.cli.main import dbtRunner
    from dbt.contracts.graph.manifest import Manifest

    parsed_file = work / "target" / "partial_parse.msgpack"
    # never the last build's parse: the project may have changed since (a new recsql)
    parsed_file.unlink(missing_ok=True)
    try:
        cache: Path | None = parse_cache_for(project)
    except (OSError, RuntimeError, KeyError) as error:  # e.g. no home directory
        log.debug("No cache for dbt's parse: %s", error)
        cache = None
    with contextlib.suppress(OSError):
        if cache is not None and cache.exists():
            parsed_file.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(cache, parsed_file)
    # the parse writes no manifest.json (a build writes it only when it keeps its database)
    parsed = dbtRunner().invoke(["parse", "--no-write-json", *paths])
    if not parsed.success or not isinstance(parsed.result, Manifest):
        raise BuildFailed(_failures(parsed, build_db, keep_build_db=False))
    if cache is None:
        return parsed.result
    try:  # another build may be saving its parse too: each replaces the file whole
        cache.parent.mkdir(parents=True, exist_ok=True)
        if not cache.exists():
            unsaved = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
            shutil.copyfile(parsed_file, unsaved)
            os.replace(unsaved, cache)
        # the parses of other project files are stale: keep the newest few
        others = sorted(cache.parent.glob("dbt-parse-*.msgpack"), key=_modified, reverse=True)
        for stale in others[8:]:
            stale.unlink(missing_ok=True)
    except OSError as error:
        log.debug("Cannot keep dbt's parse in %s: %s", cache, error)
    return parsed.result


def _write_artifacts(result: Any, manifest: Any, target: Path, with_manifest: bool) -> None:
    """dbt's run results of a build (``target/run_results.json``: each node's status and
    timings), and with ``with_manifest`` its manifest (``manifest.json``: the project's nodes as
    the build compiled them). The manifest only for a build that keeps its database to look
    closer (``--keep-build-db``): dbt writes both after every build, and the manifest (with
    its graph) cost the demo build 0.3 s (the median of seven alternating pairs of builds,
    about 21 s each). Neither is left from an earlier build. Artifacts that cannot be written
    are a warning, not a failure: a build that succeeded has published its lists by then."""
    from dbt.parser.manifest import MANIFEST_FILE_NAME, write_manifest

    try:
        for name in ("run_results.json", MANIFEST_FILE_NAME):
            (target / name).unlink(missing_ok=True)
        if hasattr(result.result, "write"):  # None when dbt raised before it ran anything
            result.result.write(str(target / "run_results.json"))
        if with_manifest:
            write_manifest(manifest, str(target))
    except OSError as error:
        log.warning("Cannot write dbt's artifacts in %s: %s", target, error)


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _failure_summary(error: BaseException) -> str:
    """What the state records of a failed build, in one line: its first failure, and the first
    row a failed test stored (which says which tenant and why)."""
    lines = error.failures[:2] if isinstance(error, BuildFailed) else [str(error)]
    if len(lines) == 2 and not lines[1].startswith("    "):
        lines = lines[:1]
    return " — ".join(" ".join(line.split()) for line in lines) or type(error).__name__


def _as_of(as_of: str | None) -> datetime:
    if not as_of:
        return datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    try:
        clock = datetime.fromisoformat(as_of)
    except ValueError:
        raise ValueError(
            f"--as-of {as_of!r} is not a timestamp: write it as 2026-01-31 or 2026-01-31 03:00:00"
        ) from None
    if clock.tzinfo is not None:  # the build's clock is UTC
        clock = clock.astimezone(UTC).replace(tzinfo=None)
    return clock


def _run_dbt(
    data_dir: Path,
    db_path: Path,
    registered: state.Build,
    progress: Progress | None,
    extra_vars: dict[str, Any],
    code_tests: bool,
    keep_build_db: bool,
    smallness: scheduling.Smallness,
) -> tuple[Path, int]:
    """``dbt build`` of the project for ``registered``; the build database it wrote, and how
    many tenants it carried before staging. ``smallness``: whether the build is small, so that
    its Python models run beside its SQL models (recsql/build/scheduling.py)."""
    # dbt is slow to import; only builds need it
    from dbt.cli.main import dbtRunner
    from dbt.node_types import NodeType

    from recsql.build import dbt_plugin

    project = project_dir()
    work = work_dir_for(db_path)
    work.mkdir(parents=True, exist_ok=True)
    build_db = work / "build.duckdb"
    _fresh_build_database(build_db)
    variables: dict[str, Any] = {
        "data_dir": str(data_dir),
        "publish_path": str(db_path),
        "build_db": str(build_db),
        "as_of": f"{registered.as_of:%Y-%m-%d %H:%M:%S}",
        "build_id": registered.build_id,
        # the code that makes the lists: a tenant keeps its lists only if the same code made them
        "code_fingerprint": code_fingerprint(project),
        "state_path": str(registered.state_path),
        **extra_vars,
    }
    paths = [
        "--project-dir",
        str(project),
        "--profiles-dir",
        str(project),
        "--target-path",
        str(work / "target"),
        "--log-path",
        str(work / "logs"),
        "--log-level",
        "none",
    ]
    try:
        manifest = _parse(project, work, paths, build_db)
        printer = None
        if progress:
            built = (NodeType.Model, NodeType.Seed)
            total = sum(1 for node in manifest.nodes.values() if node.resource_type in built)
            printer = _ProgressPrinter(progress, total)
        # two threads, but a Python model runs alone unless the build is small (scheduling.py)
        gate = scheduling.NodeGate.for_manifest(
            manifest, streamed=dbt_plugin.streams, loaded=dbt_plugin.loads, small=smallness
        )
        runner = dbtRunner(manifest=manifest, callbacks=[gate, *([printer] if printer else [])])
        skipped = (
            []
            if code_tests
            else [
                "--exclude-resource-type",
                "unit_test",
                "--exclude",
                *(f"test_name:{name}" for name in CODE_TEST_NAMES),
            ]
        )
        with shards.reporting(progress), scheduling.deciding(smallness):
            result = runner.invoke(
                [
                    "build",
                    *paths,
                    "--threads",
                    str(scheduling.THREADS),
                    "--vars",
                    json.dumps(variables),
                    # the artifacts are written below
                    "--no-write-json",
                    *skipped,
                ]
            )
        if printer:
            printer.summary()
        _write_artifacts(result, manifest, work / "target", keep_build_db)
    finally:
        unstaged = _release_dbt_database()
    if not result.success:
        failed = _failed_nodes(result) if result.exception is None else set()
        refused = bool(failed) and failed <= INPUT_GATES
        raise (InputRefused if refused else BuildFailed)(_failures(result, build_db, keep_build_db))
    return build_db, unstaged
