"""Running a build: check the inputs, run ``dbt build`` in-process, report what happened.

``recsql build`` is ``dbt build`` with the project's variables filled in from the command line,
a working directory of its own next to the served database, progress lines instead of dbt's
log, and a summary read back from the build: rows read, accepted and quarantined.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from recsql.build import inputs

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


class ProjectNotFound(RuntimeError):
    pass


class BuildFailed(RuntimeError):
    """dbt ran, and a model or a test failed: nothing was published."""

    def __init__(self, failures: list[str]):
        self.failures = failures
        super().__init__(
            "The build failed; the served database was not changed.\n" + "\n".join(failures)
        )


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
    counts: list[TableCounts] = field(default_factory=list)
    #: (source_table, reason, rows), most frequent first.
    reasons: list[tuple[str, str, int]] = field(default_factory=list)
    tenants: int = 0

    @property
    def rows_read(self) -> int:
        return sum(c.rows_read for c in self.counts)

    @property
    def rows_accepted(self) -> int:
        return sum(c.rows_accepted for c in self.counts)

    @property
    def rows_quarantined(self) -> int:
        return sum(c.rows_quarantined for c in self.counts)


class _ProgressPrinter:
    """Turns dbt's events into one line per finished node (tests are only counted)."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self.tests_passed = 0

    def __call__(self, event: Any) -> None:
        # An exception escaping a callback would abort dbt's worker: never let one out.
        try:
            self._report(event)
        except Exception:
            log.debug("Cannot report dbt event %s", event.info.name, exc_info=True)

    def _report(self, event: Any) -> None:
        name = event.info.name
        if name not in ("LogModelResult", "LogSeedResult", "LogTestResult"):
            return
        data = event.data
        status = str(data.status).lower()
        if name == "LogTestResult":
            if status == "pass":
                self.tests_passed += 1
                return
            label, total = f"test {data.name}", data.num_models
        else:
            label, total = data.node_info.node_name, data.total
        self.progress(
            f"  [{data.index:>3}/{total}] {label:<44} {status:<7} {data.execution_time:6.2f}s"
        )


def _failing_rows(build_db: Path, relation: str, limit: int = 5) -> list[str]:
    """The first rows a failed data test stored (``store_failures``), one line each."""
    con = duckdb.connect(str(build_db), read_only=True)
    try:
        cursor = con.execute(f"select * from {relation} order by all limit {limit}")
        names = [d[0] for d in cursor.description]
        return [
            ", ".join(f"{n}={v!r}" for n, v in zip(names, row, strict=True))
            for row in cursor.fetchall()
        ]
    except duckdb.Error:
        return []
    finally:
        con.close()


def _failures(result: Any, build_db: Path) -> list[str]:
    if result.exception is not None:
        return [str(result.exception)]
    failures = []
    for node_result in getattr(result.result, "results", []) or []:
        status = str(node_result.status).lower()
        if status not in ("error", "fail", "runtime error"):
            continue
        node = node_result.node
        message = str(node_result.message)
        if "Traceback" in message:  # a Python model: its exception says what is wrong
            message = [line for line in message.splitlines() if line.strip()][-1].strip()
        failures.append(f"{node.resource_type} {node.name}: {message}")
        relation = getattr(node, "relation_name", None)
        if node.resource_type == "test" and relation and build_db.exists():
            failures += [f"    {row}" for row in _failing_rows(build_db, relation)]
    return failures or ["dbt reported a failure (see the log in the build directory)."]


def _release_dbt_database() -> None:
    """Close the database dbt-duckdb keeps open in this process after a run, so the build
    database can be read (or built again) from here.

    Without a checkpoint: the build database is scratch, every table in it is already in the
    file, and its write-ahead log replays in an instant when it is opened again (a checkpoint
    at close cost 10 s of a 1,000-tenant build). The next build starts from a new file
    (:func:`_fresh_build_database`), so the log never accumulates.
    """
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    # env() raises if no environment was created (dbt stopped before connecting).
    with contextlib.suppress(Exception):
        environment = DuckDBConnectionManager.env()
        if environment.conn is not None:
            environment.conn.execute("pragma disable_checkpoint_on_shutdown")
        environment.close()
    DuckDBConnectionManager.close_all_connections()


def _fresh_build_database(build_db: Path) -> None:
    """Remove the previous build's scratch database: dbt rebuilds every table of it, and a
    new file needs no replay of the old one's write-ahead log."""
    for path in (build_db, build_db.with_name(build_db.name + ".wal")):
        path.unlink(missing_ok=True)


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


def build(
    data_dir: Path | str,
    db_path: Path | str = "recsql.duckdb",
    *,
    as_of: str | None = None,
    progress: Progress | None = None,
    extra_vars: dict[str, Any] | None = None,
) -> BuildResult:
    """Build the inputs in ``data_dir`` and publish them to ``db_path``.

    Raises :class:`recsql.build.inputs.ContractError` before anything runs if the inputs break the
    contract, and :class:`BuildFailed` if a model or test fails (the served file is unchanged).
    """
    from dbt.cli.main import dbtRunner  # dbt is slow to import; only builds need it

    started = time.perf_counter()
    data_dir = Path(data_dir).resolve()
    db_path = Path(db_path).resolve()
    # Stop at once, with a clear message, on a contract error. Quietly: the dbt plugin checks
    # again when dbt opens the database and prints the warnings (once).
    inputs.locate_all(data_dir, warn=False)

    project = project_dir()
    work = work_dir_for(db_path)
    work.mkdir(parents=True, exist_ok=True)
    build_db = work / "build.duckdb"
    _fresh_build_database(build_db)
    variables: dict[str, Any] = {
        "data_dir": str(data_dir),
        "publish_path": str(db_path),
        "build_db": str(build_db),
        **({"as_of": as_of} if as_of else {}),
        **(extra_vars or {}),
    }
    args = [
        "build",
        "--project-dir",
        str(project),
        "--profiles-dir",
        str(project),
        "--target-path",
        str(work / "target"),
        "--log-path",
        str(work / "logs"),
        "--vars",
        json.dumps(variables),
        "--log-level",
        "none",
    ]
    callbacks = [_ProgressPrinter(progress)] if progress else []
    try:
        result = dbtRunner(callbacks=callbacks).invoke(args)
    finally:
        _release_dbt_database()
    if not result.success:
        raise BuildFailed(_failures(result, build_db))
    counts, reasons, tenants = read_counts(db_path)
    return BuildResult(
        db_path=db_path,
        build_db=build_db,
        seconds=time.perf_counter() - started,
        counts=counts,
        reasons=reasons,
        tenants=tenants,
    )
