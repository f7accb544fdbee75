"""dbt-duckdb plugin: loads the dbt sources - the input files of the contract, what the
build reads of the state database (the tenants' active versions and their stored models) and
of the served file it replaces (the inputs each tenant's lists were made from) -
defines the business-rule macros of ``recsql/rules/rules.sql`` and the function that hashes
erasure requests (:mod:`recsql.lifecycle.erasures`) in the build database, and attaches the
served file read-only as ``recsql_previous``: the lists of the tenants a build holds
(``macros/previous_rows.sql``).

Configured in ``profiles.yml``; every source in ``models/staging/_staging__sources.yml`` and
``models/lifecycle/_lifecycle__sources.yml`` has ``plugin: recsql``. All the logic is in
:mod:`recsql.build.inputs`, :mod:`recsql.lifecycle.state` and the SQL file.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from dbt.adapters.duckdb.plugins import BasePlugin
from dbt.adapters.duckdb.utils import SourceConfig
from duckdb.sqltypes import BIGINT, BOOLEAN, VARCHAR

from recsql import contract, memory
from recsql.build import inputs, scheduling
from recsql.engine import journal, shards
from recsql.lifecycle import erasures, state
from recsql.rules import macros_sql
from recsql.sql import identifier, literal

log = logging.getLogger(__name__)

#: The schema of the input tables (models/staging/_staging__sources.yml).
INPUT_SOURCES = "inputs"
#: The schema of the sources read from the state database.
STATE_SOURCES = "lifecycle_state"
#: The schema of the sources read from the served file the build replaces.
PUBLISHED_SOURCES = "published_lists"
#: The catalog the served file is attached as (read-only) during a build.
PREVIOUS = "recsql_previous"
#: The state database, attached read-only while the build reads its stored models (detached
#: before the publication writes to it).
STATE = "recsql_state_read"
#: The SQL function every model's pre-hook sets DuckDB's memory_limit with (define_memory_limit).
MEMORY_LIMIT_FUNCTION = "recsql_memory_limit"
#: What a served file from a recsql that did not publish it holds of tenant_inputs: nothing.
TENANT_INPUTS = pa.schema(
    [
        ("tenant_id", pa.string()),
        ("input_fingerprint", pa.string()),
        ("lists_build_id", pa.string()),
        ("lists_as_of", pa.timestamp("us")),
        ("lists_version", pa.string()),
        # what lets the next build carry the tenant before staging its interactions
        # (models/staging/stg_carried_tenants): the sum of its raw interaction rows'
        # hashes as read from Parquet (NULL when streamed), that of its accepted ones, its
        # latest retained interaction and its rows rejected as in the future
        ("raw_interactions_hash", pa.string()),
        ("interactions_hash", pa.string()),
        ("interactions_until", pa.timestamp("us")),
        ("future_interactions", pa.int64()),
    ]
)


#: The input tables the build running in this process reads as views over their Parquet files,
#: or as an empty view for want of files (Plugin._define_native_inputs); None until its plugin
#: opens the build database.
_native_inputs: frozenset[str] | None = None


#: The unique ids of the input tables' dbt sources start with this.
_INPUT_SOURCE_IDS = f"source.recsql.{INPUT_SOURCES}."


def streams(source: str) -> bool:
    """Whether the build running in this process streams the dbt source ``source`` (its
    unique id) - an input table of CSV files, which dbt-duckdb registers on every cursor it
    opens (recsql/build/scheduling.py) - or may (its database is not open yet)."""
    if not source.startswith(_INPUT_SOURCE_IDS):
        return False
    native = _native_inputs
    return native is None or source.removeprefix(_INPUT_SOURCE_IDS) not in native


def loads(source: str) -> bool:
    """Whether the plugin loads the dbt source ``source`` (its unique id) when a node that
    reads it compiles: every source but an input table it reads as a view over its Parquet
    files (recsql/build/scheduling.py)."""
    return not source.startswith(_INPUT_SOURCE_IDS) or streams(source)


def _create_function(conn: Any, name: str, function: Any, *signature: Any, **options: Any) -> None:
    """``conn.create_function(name, function, *signature, **options)`` unless ``conn`` sees
    a function of that name already (dbt-duckdb has the plugin configure the connections it
    opens, more than once in a build)."""
    if conn.execute("select 1 from duckdb_functions() where function_name = ?", [name]).fetchall():
        return
    conn.create_function(name, function, *signature, **options)


class Plugin(BasePlugin):
    def initialize(self, plugin_config: dict[str, Any]) -> None:
        global _native_inputs
        _native_inputs = None
        self.data_dir = plugin_config["data_dir"]
        # The encodings variable, as JSON (profiles.yml); dbt may have parsed it already.
        encodings = plugin_config.get("encodings") or {}
        self.encodings = json.loads(encodings) if isinstance(encodings, str) else encodings
        # empty for a plain dbt build: no state, every tenant's first version
        self.state_path = (
            Path(plugin_config["state_path"]) if plugin_config.get("state_path") else None
        )
        self.publish_path = (
            Path(plugin_config["publish_path"]) if plugin_config.get("publish_path") else None
        )
        # the HTTP API's event log beside the served file: more interactions (inputs.py)
        self.events_dir = (
            contract.events_directory(self.publish_path) if self.publish_path else None
        )
        # the key the state remembers erasure requests by (a random one without a state)
        self._erasure_key = erasures.load_key(self.state_path)
        self._checked = False
        self._attach_failed = False
        # the build's connection (configure_connection): what the sources read of the build
        self._conn: duckdb.DuckDBPyConnection | None = None
        # per input table, the rows its stream has handed over (recsql_rows_read in SQL: the
        # accounting test, tests/dbt/assert_every_input_row_is_accounted_for.sql)
        self.rows_read: dict[str, int] = {}
        # the input tables read as views over their Parquet files, or empty views for an
        # optional table without files (recsql_input_is_native)
        self.native_tables: set[str] = set()
        # the build's memory budget: DuckDB's share is its memory_limit, the engine's Python
        # models build tenants in shards that fit the rest (recsql/memory.py)
        limit = plugin_config.get("memory_limit")
        budget = memory.parse_size(int(limit)) if limit else memory.default_limit()
        max_tenants = plugin_config.get("shard_tenants")
        self.budget = shards.Budget(
            limit=budget,
            duckdb=memory.duckdb_limit(budget),
            max_tenants=int(max_tenants) if max_tenants else None,
            duckdb_sql=memory.duckdb_sql_limit(budget),
        )
        shards.configure(self.budget)

    def configure_connection(self, conn: Any) -> None:
        # Check the whole input directory when the build opens its database, so a missing
        # file or column stops the build before any model runs. This check prints the
        # warnings (ignored files and columns); `recsql build` checks before dbt, quietly.
        if not self._checked:
            inputs.locate_all(self.data_dir, encodings=self.encodings, events_dir=self.events_dir)
            self._checked = True
        # beyond it DuckDB's joins, aggregates and sorts spill to <build db>.tmp; each SQL model
        # sets its own before it runs (define_memory_limit), the engine's shards a Python one's
        conn.execute(f"set memory_limit = '{self.budget.duckdb_setting}'")
        self.define_memory_limit(conn)
        conn.execute(macros_sql())
        # where the engine's Python models record each tenant's runs (models/engine/engine_runs)
        conn.execute(journal.RUNS_DDL)
        # recsql_erasure_key(tenant_id, customer_id): models/base/erasure_removals
        erasures.define_function(conn, self._erasure_key)
        self._define_rows_read(conn)
        self._define_engine_rows(conn)
        self._define_native_inputs(conn)
        global _native_inputs
        _native_inputs = frozenset(self.native_tables)
        self._define_is_native(conn)
        self._attach_previous(conn)
        self._conn = conn

    def define_memory_limit(self, conn: Any) -> None:
        """``recsql_memory_limit(duckdb_held, current)``: DuckDB's memory_limit for a SQL model
        about to run, which every SQL model's pre-hook sets (macros/duckdb_memory_limit.sql):
        what the process tree leaves of the budget (:func:`shards.sql_memory_limit`, at most
        70 %) - or NULL where the ``current`` limit (as ``current_setting('memory_limit')``
        shows it) may stay (:func:`shards.sql_memory_limit_change`). A Python model's is half
        the budget, set by the engine's shards."""
        budget = self.budget

        def limit(duckdb_held: int, current: str) -> str | None:
            held = int(duckdb_held or 0)
            try:
                change = shards.sql_memory_limit_change(budget, held, memory.size_in_bytes(current))
            except ValueError:  # not a size as DuckDB shows it: set it
                change = shards.sql_memory_limit(budget, held)
            return None if change is None else f"{change // 2**20}MiB"

        _create_function(
            conn,
            MEMORY_LIMIT_FUNCTION,
            limit,
            [BIGINT, VARCHAR],
            VARCHAR,
            null_handling="special",  # it returns NULL: keep the limit
            side_effects=True,
        )

    def _define_native_inputs(self, conn: Any) -> None:
        """The input tables whose files are all Parquet as views over them, in the build's
        own connection (:func:`recsql.build.inputs.native_read`), counted from the files'
        metadata, and an optional table without files as an empty view (no stream, which
        dbt-duckdb would register on every cursor: its staging model need not run alone); dbt
        keeps them (the sources' ``save_mode: ignore``) and streams the others from
        :meth:`load`."""
        conn.execute(f"create schema if not exists {INPUT_SOURCES}")
        for table in contract.TABLES:
            view = f"{INPUT_SOURCES}.{identifier(table.name)}"
            # a view left by an earlier plain dbt build of the same database: load it anew
            conn.execute(f"drop view if exists {view}")
            read = inputs.native_read(self.data_dir, table.name, self.encodings, self.events_dir)
            if read is None:
                continue
            try:
                conn.execute(f"create view {view} as {read.sql}")
            except duckdb.Error as error:  # e.g. files that type a column differently
                log.debug("%s is streamed: %s", table.name, error)
                continue
            self.rows_read[table.name] = read.rows
            self.native_tables.add(table.name)

    def _define_rows_read(self, conn: Any) -> None:
        """``recsql_rows_read(table)``: the rows the input table's stream has handed over in
        this build (NULL if it was not read)."""
        _create_function(
            conn,
            "recsql_rows_read",
            lambda table: self.rows_read.get(table),
            [VARCHAR],
            BIGINT,
            null_handling="special",
        )

    def _define_engine_rows(self, conn: Any) -> None:
        """``recsql_engine_rows(rows)``: the engine's input has ``rows`` rows (returned as
        they are): whether the build is small (:class:`recsql.build.scheduling.Smallness`).
        int_interactions_weighted's post-hook calls it."""
        _create_function(
            conn,
            "recsql_engine_rows",
            scheduling.note_engine_rows,
            [BIGINT],
            BIGINT,
            side_effects=True,
        )

    def _define_is_native(self, conn: Any) -> None:
        """``recsql_input_is_native(table)``: whether the input table is a view over its Parquet
        files, or an empty one (:meth:`_define_native_inputs`), which more than one model may
        read, rather than a stream, which only its staging model reads, once."""
        _create_function(
            conn,
            "recsql_input_is_native",
            lambda table: table in self.native_tables,
            [VARCHAR],
            BOOLEAN,
        )

    def _attach_previous(self, conn: Any) -> None:
        """Attach the served file, if there is one, read-only: what the held tenants keep."""
        if self._attach_failed or not (self.publish_path and self.publish_path.is_file()):
            return
        try:
            conn.execute(
                f"attach if not exists {literal(str(self.publish_path))} as {PREVIOUS} (read_only)"
            )
        except duckdb.Error as error:  # busy (opened for writing), not a DuckDB file...
            self._attach_failed = True
            log.warning(
                "Cannot read the served file %s (%s): a tenant this build holds (failed, or "
                "left out by --tenants) will serve no lists until a build succeeds for it.",
                self.publish_path,
                str(error).splitlines()[0],
            )

    def load(self, source_config: SourceConfig) -> pa.Table | pa.RecordBatchReader:
        if source_config.schema == STATE_SOURCES:
            stored = self._stored_rows(source_config.identifier)
            if stored is not None:
                return stored
            return state.active_rows(
                self.state_path, source_config.identifier, tenants=self._scored_tenants()
            )
        if source_config.schema == PUBLISHED_SOURCES:
            return self._published(source_config.identifier)
        # streamed to the one model that reads it (the table's staging model: a view over the
        # stream, not a table written first), counting the rows it hands over; a table read
        # natively is a view already (_define_native_inputs) and never comes here
        table = source_config.identifier
        return self._counted(
            table, inputs.stream_table(self.data_dir, table, self.encodings, self.events_dir)
        )

    def _counted(self, table: str, rows: pa.RecordBatchReader) -> pa.RecordBatchReader:
        """``rows``, counted into :attr:`rows_read` as they are read, with the column ``_row``
        of a natively read table (NULL: a streamed row's values are in ``_row_json``)."""
        self.rows_read[table] = 0
        schema = rows.schema.append(pa.field(inputs.ROW, pa.string()))

        def batches() -> Iterator[pa.RecordBatch]:
            for batch in rows:
                self.rows_read[table] += batch.num_rows
                yield pa.RecordBatch.from_arrays(
                    [*batch.columns, pa.nulls(batch.num_rows, pa.string())], schema=schema
                )

        return pa.RecordBatchReader.from_batches(schema, batches())

    def _stored_rows(self, table: str) -> Any:
        """``table`` (``stored_<form>``) of the state: the stored models of the versions that
        serve the tenants this build scores or await the promotion gate for them
        (``lifecycle_state.active_versions`` and ``candidate_versions``, loaded before), as a
        query of the state attached read-only to the build's connection - DuckDB copies the
        rows itself (through Python, as :func:`state.active_rows` reads them, the 1.4 M
        neighbour rows of 110 tenants took 0.4 s longer). None where that cannot be done (no
        state file, the versions not loaded yet): :func:`state.active_rows` reads them."""
        form = table.removeprefix("stored_")
        if form not in state.STORED_FORMS or self._conn is None:
            return None
        if not (self.state_path and self.state_path.is_file()):
            return None
        cursor = self._conn.cursor()
        try:
            loaded = {
                name
                for (name,) in cursor.execute(
                    "select table_name from duckdb_tables() "
                    "where database_name = current_database() and schema_name = ?",
                    [STATE_SOURCES],
                ).fetchall()
            }
        finally:
            cursor.close()
        if not {"active_versions", "candidate_versions"} <= loaded:
            return None
        self._conn.execute(
            f"attach if not exists {literal(str(self.state_path))} as {STATE} (read_only)"
        )
        versions = (
            f"select tenant_id, version from {STATE_SOURCES}.active_versions union all "
            f"select tenant_id, version from {STATE_SOURCES}.candidate_versions"
        )
        scored = self._scored_tenants_sql()
        return self._conn.sql(
            f"select stored.* from {STATE}.{identifier(table)} as stored "
            f"semi join ({versions}) as read "
            "on stored.tenant_id = read.tenant_id and stored.version = read.version"
            + (
                f" semi join ({scored}) as scored on stored.tenant_id = scored.tenant_id"
                if scored
                else ""
            )
        )

    def _scored_tenants_sql(self) -> str | None:
        """The select of the tenants this build trains or scores (tenant_plans, once it is
        built); None (every tenant) before then."""
        if self._conn is None:
            return None
        cursor = self._conn.cursor()
        try:
            built = cursor.execute(
                "select schema_name from duckdb_tables() where database_name = current_database() "
                "and table_name = 'tenant_plans'"
            ).fetchall()
        finally:
            cursor.close()
        if len(built) != 1:
            return None
        [(schema,)] = built
        return (
            f"select tenant_id from {identifier(schema)}.tenant_plans "
            "where action in ('train', 'score')"
        )

    def _scored_tenants(self) -> pa.Table | None:
        """The tenants this build trains or scores (:meth:`_scored_tenants_sql`) as a table:
        the only ones whose stored models it reads. None (every tenant) before then."""
        scored = self._scored_tenants_sql()
        if scored is None or self._conn is None:
            return None
        cursor = self._conn.cursor()
        try:
            return cursor.sql(scored).to_arrow_table()
        finally:
            cursor.close()

    def _published(self, table: str) -> pa.Table:
        """``table`` of the served file the build replaces (attached as recsql_previous);
        empty without one, or when it is from a recsql that did not publish the table."""
        if table != "tenant_inputs":
            raise ValueError(f"{table!r} is not a table a build reads from the served file")
        if self._conn is None:
            return TENANT_INPUTS.empty_table()
        cursor = self._conn.cursor()
        try:
            found = cursor.execute(
                "select column_name from duckdb_columns() where database_name = ? "
                "and schema_name = 'recsql_data' and table_name = ?",
                [PREVIOUS, table],
            ).fetchall()
            if not set(TENANT_INPUTS.names) <= {name for (name,) in found}:
                return TENANT_INPUTS.empty_table()
            columns = ", ".join(TENANT_INPUTS.names)
            rows = cursor.sql(f"select {columns} from {PREVIOUS}.recsql_data.{table}")
            return rows.to_arrow_table().cast(TENANT_INPUTS)
        finally:
            cursor.close()
