"""Reading the input files of the contract into raw tables, without losing a row.

``recsql build --data DIR`` reads ``<table>.parquet`` or ``<table>.csv`` from DIR for every
table of :mod:`recsql.contract`. This module decides what is a contract error (the build stops
at once, naming the file and the column) and turns each file into a raw Arrow table that the
dbt staging models validate row by row:

- every contract column is text (staging casts it and quarantines what does not parse);
- optional columns missing from the file are present and NULL, except ``tenant_id``, which is
  ``'default'`` when the file has no such column;
- extra columns are kept with their own types for the tables whose extra columns are rule
  attributes (items, customers), and ignored, with a warning, elsewhere;
- ``_row_json`` is the row's values exactly as the file held them, under the lower-case
  column names (what ``quarantined_rows`` shows);
- CSV lines that cannot be parsed at all become rows with ``_load_error`` set and the line
  in ``_row_json``, so staging quarantines them instead of the reader failing or skipping them;
- ``_source_row`` numbers the rows in file order (1-based), so "the first of two duplicates"
  is well defined.

An optional table with no file is an empty table of the right shape: no consents file means
no consent restrictions, not an error.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from recsql import sql
from recsql.contract import DEFAULT_TENANT, TABLES, TABLES_BY_NAME, Table

log = logging.getLogger(__name__)

FORMATS = ("parquet", "csv")
SOURCE_ROW = "_source_row"
LOAD_ERROR = "_load_error"
ROW_JSON = "_row_json"
BOOKKEEPING_COLUMNS = (SOURCE_ROW, LOAD_ERROR, ROW_JSON)


class ContractError(ValueError):
    """The input files do not follow the contract; the build must stop before it starts."""


@dataclass(frozen=True)
class InputFile:
    """One contract table and the file that holds it (``path`` is None if absent)."""

    table: Table
    path: Path | None
    #: Column names as written in the file, by their lower-case contract name.
    file_columns: dict[str, str]

    @property
    def present(self) -> bool:
        return self.path is not None

    @property
    def extra_columns(self) -> list[str]:
        return [c for c in self.file_columns if c not in self.table.column_names]


def _scan(path: Path, *, all_varchar: bool = True, types: dict[str, str] | None = None) -> str:
    """The DuckDB table function that reads ``path``."""
    if path.suffix == ".parquet":
        return f"read_parquet({sql.literal(str(path))})"
    options = [
        "header = true",
        "store_rejects = true",
        "rejects_table = 'recsql_rejects'",
        "rejects_scan = 'recsql_reject_scans'",
    ]
    if all_varchar:
        options.append("all_varchar = true")
    if types:
        pairs = ", ".join(f"{sql.literal(k)}: {sql.literal(v)}" for k, v in types.items())
        options.append(f"types = {{{pairs}}}")
    return f"read_csv({sql.literal(str(path))}, {', '.join(options)})"


def _read_header(path: Path) -> list[tuple[str, str]]:
    """The file's column names: (as written in the file, as DuckDB names the column).

    DuckDB renames a repeated CSV header (``id``, ``id_1``), so the names as written come from
    reading the header line as data.
    """
    if path.stat().st_size == 0:
        raise ContractError(f"{path} is empty: expected a header row with the column names.")
    con = duckdb.connect()
    try:
        names = list(con.sql(f"select * from {_scan(path)} limit 0").columns)
        if path.suffix != ".csv":
            return [(n, n) for n in names]
        literal = sql.literal(str(path))
        written = con.execute(
            f"select * from read_csv({literal}, header = false, all_varchar = true) limit 1"
        ).fetchall()
        written_names = [str(v or "") for v in written[0]] if written else names
        if len(written_names) != len(names):
            written_names = names
        return list(zip(written_names, names, strict=True))
    except duckdb.Error as error:
        raise ContractError(f"{path} cannot be read: {error}") from error
    finally:
        con.close()


def locate(data_dir: Path, table: Table) -> InputFile:
    """Find the file of one table in ``data_dir`` and check its columns against the contract."""
    candidates = [data_dir / f"{table.name}.{fmt}" for fmt in FORMATS]
    found = [p for p in candidates if p.is_file()]
    if len(found) > 1:
        raise ContractError(f"Both {found[0]} and {found[1]} exist: keep one file per table.")
    if not found:
        if table.required:
            raise ContractError(
                f"Missing required input {candidates[0]} (or {candidates[1].name}): "
                f"the {table.name} table is required. Columns: "
                f"{', '.join(table.required_columns)} (required), "
                f"{', '.join(c for c in table.column_names if c not in table.required_columns)}"
                " (optional)."
            )
        return InputFile(table, None, {})

    path = found[0]
    header = _read_header(path)
    file_columns: dict[str, str] = {}
    for written, name in header:
        key = written.strip().lower()
        if key in file_columns:
            raise ContractError(f"{path} has the column {key!r} twice.")
        file_columns[key] = name

    missing = [c for c in table.required_columns if c not in file_columns]
    if missing:
        raise ContractError(
            f"{path} is missing the required column {missing[0]!r}"
            + (f" (and {', '.join(map(repr, missing[1:]))})" if len(missing) > 1 else "")
            + f". It has: {', '.join(w for w, _ in header) or 'no columns'}."
        )
    if table.one_of and not any(c in file_columns for c in table.one_of):
        raise ContractError(f"{path} needs at least one of the columns {', '.join(table.one_of)}.")
    extras = [c for c in file_columns if c not in table.column_names]
    clashing = [c for c in extras if c in table.reserved]
    if clashing:
        raise ContractError(
            f"{path} has the column(s) {', '.join(map(repr, clashing))}, which recsql derives "
            "itself (rules test them); rename them."
        )
    if extras and table.rejects_extra_columns:
        raise ContractError(
            f"{path} has unknown column(s) {', '.join(map(repr, extras))}; known columns: "
            f"{', '.join(table.column_names)}."
        )
    return InputFile(table, path, file_columns)


def locate_all(data_dir: Path | str) -> dict[str, InputFile]:
    """Check the whole input directory; raise :class:`ContractError` on the first problem."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise ContractError(f"The input directory {data_dir} does not exist.")
    inputs = {t.name: locate(data_dir, t) for t in TABLES}
    known = {f"{t.name}.{fmt}" for t in TABLES for fmt in FORMATS}
    for path in sorted(data_dir.iterdir()):
        # Files starting with "_" are the user's own (the generator's answer key, notes).
        if (
            path.suffix in (".csv", ".parquet")
            and path.name not in known
            and not path.name.startswith("_")
        ):
            log.warning("Ignoring %s: not a table of the contract.", path)
    for spec in inputs.values():
        if spec.present and spec.extra_columns and not spec.table.keeps_extra_columns:
            log.warning(
                "Ignoring column(s) %s of %s: not in the contract.",
                ", ".join(spec.extra_columns),
                spec.path,
            )
    return inputs


def _empty(table: Table) -> pa.Table:
    fields = [pa.field(c, pa.string()) for c in table.column_names]
    fields += [
        pa.field(SOURCE_ROW, pa.int64()),
        pa.field(LOAD_ERROR, pa.string()),
        pa.field(ROW_JSON, pa.string()),
    ]
    return pa.schema(fields).empty_table()


def read(spec: InputFile) -> pa.Table:
    """Read one input file into the raw shape described in the module docstring."""
    table = spec.table
    if not spec.present:
        return _empty(table)
    assert spec.path is not None
    path = spec.path

    selected = []
    for column in table.column_names:
        if column in spec.file_columns:
            source = sql.identifier(spec.file_columns[column])
            selected.append(f"cast({source} as varchar) as {sql.identifier(column)}")
        elif column == "tenant_id":
            selected.append(f"{sql.literal(DEFAULT_TENANT)} as tenant_id")
        else:
            selected.append(f"cast(null as varchar) as {sql.identifier(column)}")
    keeps_extras = table.keeps_extra_columns and spec.extra_columns
    if keeps_extras:
        selected += [
            f"{sql.identifier(spec.file_columns[c])} as {sql.identifier(c)}"
            for c in spec.extra_columns
        ]

    # Contract columns are read as text; extra attribute columns keep the type DuckDB
    # detects, so a rule can compare a numeric attribute numerically.
    if path.suffix == ".csv" and keeps_extras:
        types = {
            spec.file_columns[c]: "VARCHAR" for c in table.column_names if c in spec.file_columns
        }
        scan = _scan(path, all_varchar=False, types=types)
    else:
        scan = _scan(path)

    as_read = ", ".join(
        f"{sql.identifier(key)} := {sql.identifier(name)}"
        for key, name in spec.file_columns.items()
    )
    con = duckdb.connect()
    try:
        con.execute("set TimeZone = 'UTC'")
        rows = con.sql(
            f"select {', '.join(selected)}, "
            f"row_number() over () as {SOURCE_ROW}, "
            f"cast(null as varchar) as {LOAD_ERROR}, "
            f"cast(to_json(struct_pack({as_read})) as varchar) as {ROW_JSON} "
            f"from {scan}"
        ).to_arrow_table()
        if path.suffix == ".csv":
            rejects = _rejected_lines(con, rows.schema)
            if "tenant_id" not in spec.file_columns:
                tenant = pa.array([DEFAULT_TENANT] * rejects.num_rows, pa.string())
                rejects = rejects.set_column(
                    rejects.schema.get_field_index("tenant_id"), "tenant_id", tenant
                )
            if rejects.num_rows:
                log.warning(
                    "%s: %d line(s) could not be parsed; they are quarantined.",
                    path,
                    rejects.num_rows,
                )
                rows = pa.concat_tables([rows, rejects])
    except duckdb.Error as error:
        raise ContractError(f"{path} cannot be read: {error}") from error
    finally:
        con.close()
    return rows


def _rejected_lines(con: duckdb.DuckDBPyConnection, schema: pa.Schema) -> pa.Table:
    """CSV lines DuckDB could not parse, as rows carrying only the line and the error."""
    try:
        lines = con.sql(
            "select 'line ' || line || ': ' || string_agg(error_message, '; ' order by column_idx),"
            " cast(json_object('line', line, 'text', any_value(csv_line)) as varchar)"
            " from recsql_rejects group by line order by line"
        ).fetchall()
    except duckdb.CatalogException:  # no line was rejected
        return schema.empty_table()
    n = len(lines)
    columns = {name: pa.nulls(n, schema.field(name).type) for name in schema.names}
    columns[LOAD_ERROR] = pa.array([error for error, _ in lines], pa.string())
    columns[ROW_JSON] = pa.array([line for _, line in lines], pa.string())
    return pa.table(columns, schema=schema)


def read_table(data_dir: Path | str, name: str) -> pa.Table:
    """Locate and read one table by name (what the dbt plugin calls)."""
    return read(locate(Path(data_dir), TABLES_BY_NAME[name]))
