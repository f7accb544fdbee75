"""Publishing: write the served database as a new file, then swap it in atomically.

The build's own database is a scratch file. Publishing copies the tables that clients need
into a *new* file written in a storage format every DuckDB client from 1.4 on can read,
creates the views and table macros of ``recsql/serving/serving.sql`` in it, checks that every view
can be read from a fresh read-only connection, and only then renames it over the served file.
Readers that already have the old file open keep reading it; new readers get the new one; a
build that fails or is killed before the rename leaves the served file as it was.

A build run by ``recsql build`` records itself in the state database around the rename
(:class:`StateRecord`): ``publishing`` before, ``published`` after; the published file carries
the same build id (``build_info``), so the next build can tell which side of the rename a
killed build died on.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from recsql import rules, serving, sql
from recsql.lifecycle import state

log = logging.getLogger(__name__)

#: Oldest DuckDB storage format we write, so 1.4 and 1.5 clients (CLI, Node) can open the file.
STORAGE_VERSION = "v1.4.0"
DATA_SCHEMA = "recsql_data"
_CATALOG = "recsql_publish"


def _remove(path: Path) -> None:
    for stale in (path, path.with_name(path.name + ".wal")):
        if stale.exists():
            stale.unlink()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_database(
    con: duckdb.DuckDBPyConnection, tables: Mapping[str, duckdb.DuckDBPyRelation], path: Path
) -> None:
    """Write ``tables`` and the serving objects into a new database file at ``path``."""
    _remove(path)
    [current] = con.execute("select current_database(), current_schema()").fetchall()
    con.execute(
        f"attach {sql.literal(str(path))} as {_CATALOG} (storage_version '{STORAGE_VERSION}')"
    )
    try:
        con.execute(f"create schema {_CATALOG}.{DATA_SCHEMA}")
        for name, relation in tables.items():
            relation.create(f"{_CATALOG}.{DATA_SCHEMA}.{name}")
        con.execute(f"use {_CATALOG}.main")
        try:
            con.execute(rules.macros_sql())
            con.execute(serving.objects_sql())
        finally:
            con.execute(f'use "{current[0]}"."{current[1]}"')
    finally:
        con.execute(f"detach {_CATALOG}")


def verify_database(path: Path) -> dict[str, int]:
    """Open ``path`` read-only in a new connection and count the rows of every view."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        views = [
            row[0]
            for row in con.sql(
                "select view_name from duckdb_views() "
                "where not internal and database_name = current_database() order by view_name"
            ).fetchall()
        ]
        return {
            view: con.execute(f'select count(*) from "{view}"').fetchall()[0][0] for view in views
        }
    finally:
        con.close()


#: Tests set this environment variable to a fault point's name to SIGKILL the build there.
KILL_AT = "RECSQL_TEST_KILL_AT"


def fault_point(name: str) -> None:
    """Where a test may kill the build (``RECSQL_TEST_KILL_AT=name``), as a power cut would."""
    if os.environ.get(KILL_AT) == name:
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass(frozen=True)
class StateRecord:
    """What ``recsql build`` records in the state database around the swap."""

    state_path: Path
    build_id: str
    update: state.StateUpdate

    def before_swap(self) -> None:
        state.record_publishing(self.state_path, self.build_id, self.update)
        fault_point("publishing")

    def after_swap(self) -> None:
        fault_point("swapped")
        state.record_published(self.state_path, self.build_id)


class ErasedCustomerFound(RuntimeError):
    """A table about to be published holds a customer who asked to be forgotten."""


def erased_customer_columns(
    con: duckdb.DuckDBPyConnection, path: Path, erased: duckdb.DuckDBPyRelation
) -> list[tuple[str, str, int]]:
    """Every text column of a customer (its name says ``customer``) of every table of the
    database at ``path`` that holds an id of ``erased`` (tenant_id, customer_id) - of the same
    tenant where the table has a tenant_id: ``(table, column, rows)``. The erasure gate of what
    a build publishes, whatever tables it publishes: nothing to list by hand."""
    con.register("recsql_erased", erased.to_arrow_table())
    con.execute(f"attach {sql.literal(str(path))} as recsql_check (read_only)")
    try:
        columns = con.execute(
            "select table_name, column_name, "
            "  exists (select 1 from duckdb_columns() as t where t.database_name = c.database_name "
            "    and t.table_oid = c.table_oid and t.column_name = 'tenant_id') "
            "from duckdb_columns() as c where database_name = 'recsql_check' and schema_name = ? "
            "and data_type = 'VARCHAR' and column_name ilike '%customer%' order by all",
            [DATA_SCHEMA],
        ).fetchall()
        found = []
        for table, column, has_tenant in columns:
            on = f"t.{sql.identifier(column)} = e.customer_id" + (
                " and t.tenant_id = e.tenant_id" if has_tenant else ""
            )
            [(rows,)] = con.execute(
                f"select count(*) from recsql_check.{DATA_SCHEMA}.{sql.identifier(table)} as t "
                f"semi join recsql_erased as e on {on}"
            ).fetchall()
            if rows:
                found.append((table, column, rows))
        return found
    finally:
        con.execute("detach recsql_check")
        con.unregister("recsql_erased")


def publish(
    con: duckdb.DuckDBPyConnection,
    tables: Mapping[str, duckdb.DuckDBPyRelation],
    path: str | os.PathLike[str],
    record: StateRecord | None = None,
    erased: duckdb.DuckDBPyRelation | None = None,
) -> pa.Table:
    """Publish ``tables`` to ``path`` atomically; return one row per view with its row count.
    With a ``record``, the build is recorded in the state database around the swap. With
    ``erased`` (tenant_id, customer_id: who asked to be forgotten), nothing is published if a
    table holds one of them (:func:`erased_customer_columns`)."""
    target = Path(path).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = target.with_name(target.name + ".next")
    write_database(con, tables, staged)
    found = erased_customer_columns(con, staged, erased) if erased is not None else []
    if found:
        _remove(staged)
        where = "; ".join(f"{table}.{column}: {rows} rows" for table, column, rows in found)
        raise ErasedCustomerFound(
            f"Nothing was published: customers who asked to be forgotten are in {where}. "
            "This is a defect of recsql (the models drop them): please report it."
        )
    counts = verify_database(staged)
    _fsync(staged)
    if record:
        record.before_swap()
    # A write-ahead log left by a client that opened the served file for writing belongs to
    # the old file; replayed against the new one it would corrupt it.
    stale_wal = target.with_name(target.name + ".wal")
    if stale_wal.exists():
        log.warning("Removing %s, a write-ahead log of the previous file.", stale_wal)
        stale_wal.unlink()
    os.replace(staged, target)
    _fsync(target.parent)
    if record:
        record.after_swap()
    published_at = datetime.now(UTC).replace(tzinfo=None)
    log.info("Published %s", target)
    return pa.table(
        {
            "path": [str(target)] * len(counts),
            "view_name": list(counts),
            "row_count": list(counts.values()),
            "published_at": [published_at] * len(counts),
        }
    )
