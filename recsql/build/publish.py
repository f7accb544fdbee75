"""Publishing: write the served database as a new file, then swap it in atomically.

The build's own database is a scratch file. Publishing copies the tables that clients need
into a *new* file written in a storage format every DuckDB client from 1.4 on can read,
creates the views and table macros of ``recsql/serving/serving.sql`` in it, checks that every view
can be read from a fresh read-only connection, and only then renames it over the served file.
The new file is written in full, or is a copy of the served file in which only the tenants'
rows that changed are replaced (:func:`write_database`): the same rows, for a fraction of the
writing when most tenants were carried.
Readers that already have the old file open keep reading it; new readers get the new one; a
build that fails or is killed before the rename leaves the served file as it was.

A build run by ``recsql build`` records itself in the state database around the rename
(:class:`StateRecord`): ``publishing`` before, ``published`` after; the published file carries
the same build id (``build_info``), so the next build can tell which side of the rename a
killed build died on.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import signal
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from recsql import rules, serving, sql
from recsql.lifecycle import state

log = logging.getLogger(__name__)

#: Oldest DuckDB storage format we write, so 1.4 and 1.5 clients (CLI, Node) can open the file.
STORAGE_VERSION = "v1.4.0"
DATA_SCHEMA = "recsql_data"
_CATALOG = "recsql_publish"


def _remove(path: Path) -> None:
    for stale in (path, _wal(path)):
        if stale.exists():
            stale.unlink()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Published:
    """A table of the served file: its rows, and the order they are written in - tenant
    first, so that a query for one tenant reads only the row groups holding it (DuckDB skips
    the others by their min/max), however many tenants share the file."""

    rows: duckdb.DuckDBPyRelation
    order: str | None = None
    #: Updated in place row by row: of a tenant whose rows changed, only the rows that did
    #: are replaced (matched by their hash) - for a table whose rows mostly stay when its
    #: tenant's change: a history that grows by a row a night, a rule state a birthday changes.
    #: Else the tenant's rows are replaced (a retrained tenant's lists all change).
    by_row: bool = False

    def ordered(self) -> duckdb.DuckDBPyRelation:
        return self.rows.order(self.order) if self.order else self.rows


@dataclass(frozen=True)
class Kept:
    """The tenants whose rows of ``tables`` the served file already holds as this build would
    make them (models/lifecycle/kept_tenants: kept whole): the new file keeps those rows, and
    any row the build's relations have of theirs is left out."""

    tenants: pa.Table
    tables: frozenset[str]

    def leave_out(self, con: duckdb.DuckDBPyConnection, name: str, table: Published) -> Published:
        """``table`` without the kept tenants' rows, if it is one of :attr:`tables`."""
        if name not in self.tables:
            return table
        kept = con.from_arrow(self.tenants.select(["tenant_id"])).set_alias("kept")
        rows = table.rows.set_alias("t").join(kept, "t.tenant_id = kept.tenant_id", how="anti")
        return replace(table, rows=rows)


#: The served file's own record of how it was written (one row: ``layout``, a fingerprint of
#: the tables' columns and the views' and macros' SQL it was written from; ``catalog``, one of
#: its catalog as written, so that a file whose tables, views or macros a client changed is
#: not updated in place; ``replaced_share``, the share of its rows replaced in place since it
#: was last written in full). Internal: no view shows it.
INFO_TABLE = "publication_info"
#: A served file is updated in place (:func:`write_database`) only while the rows it deleted
#: since it was last written in full stay under this share of its rows; then it is written in
#: full again (a deleted row's space is not reclaimed, and the replaced tenants' rows follow
#: the sorted ones: more row groups for a query of one tenant to read).
MAX_REPLACED_SHARE = 0.25


def serving_objects() -> tuple[str, ...]:
    """The SQL scripts of the views and macros of a served file, in the order they run."""
    return (rules.macros_sql(), serving.objects_sql())


def layout_of(tables: Mapping[str, Published], objects: Sequence[str]) -> str:
    """A fingerprint of what a served file holds besides its rows: its tables with their
    columns and types, its views and macros (``objects``), its storage format."""
    digest = hashlib.sha256("\0".join([STORAGE_VERSION, *objects]).encode())
    for name, table in tables.items():
        types = zip(table.rows.columns, table.rows.types, strict=True)
        columns = ",".join(f"{column}:{kind}" for column, kind in types)
        digest.update(f"\0{name}({columns})".encode())
    return digest.hexdigest()


def write_database(
    con: duckdb.DuckDBPyConnection,
    tables: Mapping[str, Published],
    path: Path,
    previous: Path | None = None,
    objects: Sequence[str] | None = None,
    *,
    in_place: bool = True,
    kept: Kept | None = None,
) -> str:
    """Write ``tables`` and the serving objects into a new database file at ``path``: a copy
    of the served file ``previous`` in which only the rows that changed are replaced, where
    ``in_place`` allows it, that file has the same layout and has not had too many rows
    replaced since it was last written in full (:data:`MAX_REPLACED_SHARE`); else written in
    full. The two give the same rows: a tenant's rows in a table are replaced when their count
    or the sum of their hashes differs (of a table :attr:`Published.by_row`, those of its rows
    that changed). The ``kept`` tenants' rows of its tables are those of
    ``previous``, either way. ``objects``: the views' and macros' SQL (default
    :func:`serving_objects`). Returns how it was written, for the log."""
    _remove(path)
    objects = serving_objects() if objects is None else tuple(objects)
    layout = layout_of(tables, objects)
    served = previous is not None and previous.is_file()
    if kept is not None and kept.tenants.num_rows:
        if not served:
            raise ValueError(
                f"{kept.tenants.num_rows} tenant(s) kept whole, but no served file to keep "
                f"their rows from: {previous}"
            )
        tables = {name: kept.leave_out(con, name, table) for name, table in tables.items()}
    else:
        kept = None
    # not where a write-ahead log is beside the served file: a client wrote to it (publish
    # removes the log)
    if in_place and served and previous is not None and not _wal(previous).exists():
        shutil.copyfile(previous, path)
        try:
            replaced = _replace_changed_rows(con, tables, path, layout, kept)
        except duckdb.Error as error:  # not a file this recsql wrote, damaged...
            log.warning(
                "Writing %s in full: the served file could not be updated (%s).", path, error
            )
            replaced = None
        if replaced is not None:
            return replaced
        _remove(path)
    [current] = con.execute("select current_database(), current_schema()").fetchall()
    con.execute(
        f"attach {sql.literal(str(path))} as {_CATALOG} (storage_version '{STORAGE_VERSION}')"
    )
    try:
        con.execute(f"create schema {_CATALOG}.{DATA_SCHEMA}")
        if kept is not None and previous is not None:
            con.execute(f"attach {sql.literal(str(previous))} as {_KEPT_SOURCE} (read_only)")
            con.register(_KEPT_TENANTS, kept.tenants.select(["tenant_id"]))
            tables = {name: _with_kept_rows(con, name, t, kept) for name, t in tables.items()}
        for name, table in tables.items():
            table.ordered().create(_qualified(name))
        con.execute(f"use {_CATALOG}.main")
        try:
            for script in objects:
                con.execute(script)
        finally:
            con.execute(f'use "{current[0]}"."{current[1]}"')
        _write_info(con, layout, _catalog_digest(con), 0.0)
    finally:
        con.execute(f"detach {_CATALOG}")
        con.execute(f"detach database if exists {_KEPT_SOURCE}")
        if kept is not None:
            con.unregister(_KEPT_TENANTS)
    return "written in full"


#: Where a file written in full reads the kept tenants' rows from (the served file, read-only),
#: and the name their ids are registered under.
_KEPT_SOURCE, _KEPT_TENANTS = "recsql_kept_source", "recsql_kept_tenants"


def _with_kept_rows(
    con: duckdb.DuckDBPyConnection, name: str, table: Published, kept: Kept
) -> Published:
    """``table`` with the kept tenants' rows of the served file attached as
    :data:`_KEPT_SOURCE`, if it is one of ``kept.tables``. Where that file has no such table
    or lacks one of its columns (a client changed it), they have none, with a warning."""
    if name not in kept.tables:
        return table
    columns = ", ".join(sql.identifier(column) for column in table.rows.columns)
    try:
        rows = con.sql(
            f"select {columns} from {_KEPT_SOURCE}.{DATA_SCHEMA}.{sql.identifier(name)} "
            f"where tenant_id in (select tenant_id from {_KEPT_TENANTS})"
        )
    except duckdb.Error as error:
        log.warning("The tenants kept whole have no rows of %s: %s", name, error)
        return table
    return replace(table, rows=table.rows.union(rows))


def _wal(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def _qualified(table: str) -> str:
    return f"{_CATALOG}.{DATA_SCHEMA}.{sql.identifier(table)}"


def _write_info(
    con: duckdb.DuckDBPyConnection, layout: str, catalog: str, replaced_share: float
) -> None:
    con.execute(
        f"create or replace table {_qualified(INFO_TABLE)} as "
        "select ?::varchar as layout, ?::varchar as catalog, ?::double as replaced_share",
        [layout, catalog, replaced_share],
    )


def _catalog_digest(con: duckdb.DuckDBPyConnection) -> str:
    """A fingerprint of the attached file's catalog but its own record: the columns of its
    tables and views, its macros' names and parameters (not their SQL, which DuckDB words
    anew when it reads a file)."""
    rows = con.execute(
        "select 'column', table_name || '.' || column_name || ':' || data_type "
        "from duckdb_columns() where database_name = $db and table_name != $info "
        "union all select 'view', schema_name || '.' || view_name "
        "from duckdb_views() where database_name = $db "
        "union all select 'macro', schema_name || '.' || function_name || '(' "
        "|| array_to_string(parameters, ',') || ')' "
        "from duckdb_functions() where database_name = $db "
        "order by all",
        {"db": _CATALOG, "info": INFO_TABLE},
    ).fetchall()
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def _replace_changed_rows(
    con: duckdb.DuckDBPyConnection,
    tables: Mapping[str, Published],
    path: Path,
    layout: str,
    kept: Kept | None = None,
) -> str | None:
    """In ``path``, a copy of the served file: the rows of ``tables`` that differ from its own,
    replaced tenant by tenant (row by row within a tenant for a table
    :attr:`Published.by_row`; a table without tenant_id: in full), but the ``kept`` tenants'
    rows of its tables, which stay. None, and ``path`` is to be written in full, when the
    file's layout is not ``layout`` or the replaced share would pass
    :data:`MAX_REPLACED_SHARE`."""
    con.execute(f"attach {sql.literal(str(path))} as {_CATALOG}")
    if kept is not None:
        con.register(_KEPT_TENANTS, kept.tenants.select(["tenant_id"]))
    try:
        [(has_info,)] = con.execute(
            "select count(*) from duckdb_tables() "
            "where database_name = ? and schema_name = ? and table_name = ?",
            [_CATALOG, DATA_SCHEMA, INFO_TABLE],
        ).fetchall()
        if not has_info:
            return None
        [(was_layout, catalog, was_replaced)] = con.execute(
            f"select layout, catalog, replaced_share from {_qualified(INFO_TABLE)}"
        ).fetchall()
        if was_layout != layout or _catalog_digest(con) != catalog:
            return None
        changes: dict[str, pa.Table | None] = {}
        deleted = rows = 0
        for name, table in tables.items():
            if "tenant_id" not in table.rows.columns:
                changes[name] = None
                [(old_rows,)] = con.execute(f"select count(*) from {_qualified(name)}").fetchall()
                [(new_rows,)] = table.rows.aggregate("count(*)").fetchall()
                deleted, rows = deleted + old_rows, rows + new_rows
                continue
            leaves_kept = kept is not None and name in kept.tables
            per_tenant = _tenant_differences(con, name, table.rows, leaves_kept)
            changed = per_tenant.filter(per_tenant["changed"])
            if table.by_row:
                changed = _row_differences(con, name, table.rows, changed.select(["tenant_id"]))
            changes[name] = changed
            deleted += pc.sum(changed["old_rows"]).as_py() or 0
            rows += pc.sum(per_tenant["new_rows"]).as_py() or 0
            if leaves_kept:  # and the kept tenants' rows, which stay
                [(old_rows,)] = con.execute(f"select count(*) from {_qualified(name)}").fetchall()
                rows += old_rows - (pc.sum(per_tenant["old_rows"]).as_py() or 0)
        share = was_replaced + deleted / max(rows, 1)
        if share > MAX_REPLACED_SHARE:
            return None
        for name, changed in changes.items():
            target, table = _qualified(name), tables[name]
            if changed is None:
                con.execute(f"delete from {target}")
                table.ordered().insert_into(target)
            elif changed.num_rows:
                # the changed tenants' rows, or (by_row) their rows of the changed hashes
                keys = ["tenant_id", "row_hash"] if table.by_row else ["tenant_id"]
                con.register("recsql_changed", changed.select(keys))
                same = "t.tenant_id is not distinct from changed.tenant_id" + (
                    f" and hash({_values(table.rows, 't')}) = changed.row_hash"
                    if table.by_row
                    else ""
                )
                con.execute(
                    f"delete from {target} as t using recsql_changed as changed where {same}"
                )
                replacing = table.rows.set_alias("t").join(
                    con.table("recsql_changed").set_alias("changed"), same, how="semi"
                )
                replace(table, rows=replacing).ordered().insert_into(target)
                con.unregister("recsql_changed")
        _write_info(con, layout, catalog, share)
        return (
            f"updated in place: {deleted:,} of {rows:,} rows replaced "
            f"({share:.0%} since it was written in full)"
        )
    finally:
        con.execute(f"detach {_CATALOG}")
        if kept is not None:
            con.unregister(_KEPT_TENANTS)


def _values(rows: duckdb.DuckDBPyRelation, alias: str | None = None) -> str:
    """The columns of ``rows`` (of ``alias``), as the arguments of the hash of a row."""
    prefix = f"{alias}." if alias else ""
    return ", ".join(prefix + sql.identifier(column) for column in rows.columns)


#: What :func:`_row_differences` returns.
_ROW_DIFFERENCES = pa.schema(
    [("tenant_id", pa.string()), ("row_hash", pa.uint64()), ("old_rows", pa.int64())]
)


def _row_differences(
    con: duckdb.DuckDBPyConnection, name: str, rows: duckdb.DuckDBPyRelation, tenants: pa.Table
) -> pa.Table:
    """Of the ``tenants`` whose rows of table ``name`` changed, the rows that did, by their
    hash: one row per tenant_id and row_hash that is not as many times in ``rows`` as in the
    attached copy, with how many times it is in the copy (old_rows). What the copy deletes
    and ``rows`` inserts (:attr:`Published.by_row`); the other rows stay."""
    if not tenants.num_rows:
        return pa.Table.from_batches([], schema=_ROW_DIFFERENCES)
    con.register("recsql_changed_tenants", tenants)
    try:
        row_hash = f"hash({_values(rows, 't')})"
        per_row = f"t.tenant_id, {row_hash} as row_hash, count(*) as n"
        same = "t.tenant_id is not distinct from changed.tenant_id"
        new = (
            rows.set_alias("t")
            .join(con.table("recsql_changed_tenants").set_alias("changed"), same, how="semi")
            .aggregate(per_row, f"t.tenant_id, {row_hash}")
            .set_alias("new")
        )
        old = con.sql(
            f"select {per_row} from {_qualified(name)} as t "
            f"semi join recsql_changed_tenants as changed on {same} group by all"
        ).set_alias("old")
        same_row = (
            "new.tenant_id is not distinct from old.tenant_id and new.row_hash = old.row_hash"
        )
        return (
            new.join(old, same_row, how="outer")
            .filter("old.n is distinct from new.n")
            .project(
                "coalesce(new.tenant_id, old.tenant_id) as tenant_id, "
                "coalesce(new.row_hash, old.row_hash) as row_hash, "
                "coalesce(old.n, 0) as old_rows"
            )
            .to_arrow_table()
        )
    finally:
        con.unregister("recsql_changed_tenants")


def _tenant_differences(
    con: duckdb.DuckDBPyConnection,
    name: str,
    rows: duckdb.DuckDBPyRelation,
    leaves_kept: bool = False,
) -> pa.Table:
    """Per tenant of table ``name``, in the attached copy or in ``rows``: its rows in each
    (old_rows, new_rows) and whether they differ (changed: another count, or another sum of
    the rows' hashes). ``leaves_kept``: the tenants registered as :data:`_KEPT_TENANTS` are
    not compared (``rows`` has none of theirs; the copy's stay)."""
    summary = f"tenant_id, count(*) as n, sum(hash({_values(rows)})::hugeint) as h"
    new = rows.aggregate(summary, "tenant_id").set_alias("new")
    others = (
        f"anti join {_KEPT_TENANTS} as kept on {_qualified(name)}.tenant_id = kept.tenant_id"
        if leaves_kept
        else ""
    )
    old = con.sql(
        f"select {summary} from {_qualified(name)} {others} group by tenant_id"
    ).set_alias("old")
    return (
        new.join(old, "new.tenant_id is not distinct from old.tenant_id", how="outer")
        .project(
            "coalesce(new.tenant_id, old.tenant_id) as tenant_id, "
            "coalesce(old.n, 0) as old_rows, coalesce(new.n, 0) as new_rows, "
            "old.n is distinct from new.n or old.h is distinct from new.h as changed"
        )
        .to_arrow_table()
    )


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

    def before_swap(self, con: duckdb.DuckDBPyConnection) -> None:
        """Record the build as ``publishing``; its stored models given as relations of the
        build's database are read through ``con`` (a cursor of it): the publication writes the
        served file through the connection they were made on meanwhile."""
        forms = {
            form: con.sql(rows.sql_query()) if isinstance(rows, duckdb.DuckDBPyRelation) else rows
            for form, rows in self.update.forms.items()
        }
        state.record_publishing(self.state_path, self.build_id, replace(self.update, forms=forms))
        fault_point("publishing")

    def after_swap(self) -> None:
        fault_point("swapped")
        state.record_published(self.state_path, self.build_id)


class ErasedCustomerFound(RuntimeError):
    """A table about to be published holds a customer who asked to be forgotten."""


def _write_staged(
    con: duckdb.DuckDBPyConnection,
    tables: Mapping[str, Published],
    staged: Path,
    target: Path,
    erased: duckdb.DuckDBPyRelation | None,
    in_place: bool,
    kept: Kept | None,
) -> dict[str, int]:
    """The new served file at ``staged``, checked and on disk (:func:`publish`); its views'
    row counts."""
    how = write_database(con, tables, staged, previous=target, in_place=in_place, kept=kept)
    log.info("%s: %s", staged.name, how)
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
    return counts


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
    tables: Mapping[str, Published],
    path: str | os.PathLike[str],
    record: StateRecord | None = None,
    erased: duckdb.DuckDBPyRelation | None = None,
    *,
    in_place: bool = True,
    kept: Kept | None = None,
) -> pa.Table:
    """Publish ``tables`` to ``path`` atomically; return one row per view with its row count.
    With a ``record``, the build is recorded in the state database around the swap. With
    ``erased`` (tenant_id, customer_id: who asked to be forgotten), nothing is published if a
    table holds one of them (:func:`erased_customer_columns`). ``in_place``: the served file
    may be updated in place (:func:`write_database`); not when the build applies an erasure
    request no published build applied: the rows an update deletes keep their bytes in the
    file, and an erased customer's must be gone from it. ``kept``: tenants whose rows of
    some tables the served file keeps (:class:`Kept`)."""
    target = Path(path).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = target.with_name(target.name + ".next")
    # The state records the build while the new file is written (another DuckDB database,
    # another core: 0.65 s of the 1,000-tenant night's 2.4 s); both are done before the swap.
    # A build that fails after the state recorded it is abandoned (state.Writer.fail). The
    # recorder's pool waits for the recording when it closes, whatever the writing did.
    with contextlib.closing(con.cursor()) as reader, ThreadPoolExecutor(max_workers=1) as recorder:
        recording = recorder.submit(record.before_swap, reader) if record else None
        counts = _write_staged(con, tables, staged, target, erased, in_place, kept)
        try:
            if recording is not None:
                recording.result()
        except BaseException:
            _remove(staged)
            raise
    # A write-ahead log left by a client that opened the served file for writing belongs to
    # the old file; replayed against the new one it would corrupt it.
    stale_wal = _wal(target)
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
