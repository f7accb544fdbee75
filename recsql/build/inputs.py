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

CSV files are read in one stated dialect, not guessed: RFC 4180 with the delimiter that the
header line uses (``,``, ``;``, tab or ``|``), ``"`` quotes doubled inside a quoted field, any
mix of CRLF and LF line endings, quoted fields spanning lines, an optional UTF-8 BOM. (DuckDB's
sniffer gave up on valid files, e.g. CRLF with one LF row appended.) In a ``;`` file a contract
number written with a decimal comma (``12,50``) is read with a decimal point.

An optional table with no file is an empty table of the right shape: no consents file means
no consent restrictions, not an error.
"""

from __future__ import annotations

import codecs
import csv
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv

from recsql import sql
from recsql.contract import DEFAULT_TENANT, TABLES, TABLES_BY_NAME, ColumnType, Table

log = logging.getLogger(__name__)

FORMATS = ("parquet", "csv")
SOURCE_ROW = "_source_row"
LOAD_ERROR = "_load_error"
ROW_JSON = "_row_json"
BOOKKEEPING_COLUMNS = (SOURCE_ROW, LOAD_ERROR, ROW_JSON)

#: The delimiters a CSV header line may use: the one it holds most of (``,`` on a tie).
DELIMITERS = (",", ";", "\t", "|")
#: A plain number with a decimal comma, and its rewrite with a decimal point.
DECIMAL_COMMA = (r"^(\s*[+-]?[0-9]+),([0-9]+\s*)$", r"\1.\2")
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")
_BLOCK = 1 << 20


class ContractError(ValueError):
    """The input files do not follow the contract; the build must stop before it starts."""


@dataclass(frozen=True)
class InputFile:
    """One contract table and the file that holds it (``path`` is None if absent)."""

    table: Table
    path: Path | None
    #: Column names as written in the file, by their lower-case contract name.
    file_columns: dict[str, str]
    #: The CSV file's delimiter (None for Parquet).
    delimiter: str | None = None

    @property
    def present(self) -> bool:
        return self.path is not None

    @property
    def extra_columns(self) -> list[str]:
        return [c for c in self.file_columns if c not in self.table.column_names]


# --- Checking the directory ---------------------------------------------------------------------


def locate_all(data_dir: Path | str, *, warn: bool = True) -> dict[str, InputFile]:
    """Check the whole input directory; raise :class:`ContractError` on the first problem.

    With ``warn``, log what is ignored: files that are no table of the contract, columns that
    are not in it. (``recsql build`` checks quietly before dbt starts; the dbt plugin checks
    again and warns, so each warning is printed once.)
    """
    data_dir = Path(data_dir)
    if data_dir.is_file():
        raise ContractError(
            f"{data_dir} is a file, not a directory: --data (dbt: the data_dir variable) takes "
            f"the directory that holds the <table>.csv or <table>.parquet files, such as "
            f"{data_dir.parent}."
        )
    if not data_dir.is_dir():
        raise ContractError(f"The input directory {data_dir} does not exist.")
    inputs = {t.name: locate(data_dir, t) for t in TABLES}
    if not warn:
        return inputs
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
    names, delimiter = _read_header(path)
    file_columns: dict[str, str] = {}
    for name in names:
        key = name.strip().lower()
        if key in file_columns:
            raise ContractError(f"{path} has the column {key!r} twice.")
        file_columns[key] = name

    missing = [c for c in table.required_columns if c not in file_columns]
    if missing:
        raise ContractError(
            f"{path} is missing the required column {missing[0]!r}"
            + (f" (and {', '.join(map(repr, missing[1:]))})" if len(missing) > 1 else "")
            + f". It has: {', '.join(names) or 'no columns'}."
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
    if delimiter:
        _check_text(path, delimiter)
    return InputFile(table, path, file_columns, delimiter)


def _read_header(path: Path) -> tuple[list[str], str | None]:
    """The file's column names as written, and its CSV delimiter (None for Parquet).

    The delimiter is the one the CSV header line uses most, outside quotes; a column without
    a name is called ``column<position>``.
    """
    if path.stat().st_size == 0:
        raise ContractError(f"{path} is empty: expected a header row with the column names.")
    if path.suffix == ".parquet":
        con = duckdb.connect()
        try:
            scan = f"read_parquet({sql.literal(str(path))})"
            return list(con.sql(f"select * from {scan} limit 0").columns), None
        except duckdb.Error as error:
            raise ContractError(f"{path} cannot be read: {error}") from error
        finally:
            con.close()
    with path.open("rb") as file:
        first = _LINE_BREAK.split(file.readline(_BLOCK), maxsplit=1)[0]
    try:
        line = first.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise _not_utf8(path) from error
    outside_quotes = re.sub(r'"[^"]*"', "", line)
    delimiter = max(DELIMITERS, key=outside_quotes.count)
    names = next(csv.reader([line], delimiter=delimiter), [])
    return [name or f"column{i}" for i, name in enumerate(names, 1)], delimiter


def _check_text(path: Path, delimiter: str) -> None:
    """Stop at a CSV file that would be misread: not UTF-8, or with a quoted field that is
    never closed (the rest of the file would be read as one value)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    quotes = 0
    with path.open("rb") as file:
        try:
            for block in iter(lambda: file.read(_BLOCK), b""):
                decoder.decode(block)
                quotes += block.count(b'"')
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as error:
            raise _not_utf8(path) from error
    # Every quoted field holds an even number of quotes: only an odd count needs a look.
    line = _unclosed_quote(path, delimiter) if quotes % 2 else None
    if line:
        raise ContractError(
            f"{path} line {line}: a quoted field is never closed, so the rest of the file would "
            'be read as one value. End the field with a ", and write a " inside a quoted field '
            'as "".'
        )


def _not_utf8(path: Path) -> ContractError:
    with path.open("rb") as file:
        for number, line in enumerate(file, 1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as error:
                return ContractError(
                    f"{path} line {number} is not UTF-8 text ({error.reason}): save the file "
                    "as UTF-8 (in Excel: 'CSV UTF-8')."
                )
    return ContractError(f"{path} is not UTF-8 text: save it as UTF-8.")


def _unclosed_quote(path: Path, delimiter: str) -> int | None:
    """The line on which a quoted field starts that the file never closes, if one does."""
    with path.open(encoding="utf-8-sig", newline="") as file:
        reader = csv.reader(file, delimiter=delimiter, strict=True)
        start = 1
        while True:
            try:
                next(reader)
            except StopIteration:
                return None
            except csv.Error as error:  # other errors: Arrow reads those fields leniently
                if "unexpected end of data" in str(error):
                    return start
            start = reader.line_num + 1


# --- Reading a file -----------------------------------------------------------------------------


def read_table(data_dir: Path | str, name: str) -> pa.Table:
    """Locate and read one table by name (what the dbt plugin calls)."""
    return read(locate(Path(data_dir), TABLES_BY_NAME[name]))


def read(spec: InputFile) -> pa.Table:
    """Read one input file into the raw shape described in the module docstring."""
    table = spec.table
    if not spec.present:
        return _empty(table)
    assert spec.path is not None
    path = spec.path

    # In a ";" file a comma separates no fields, so in a number it is a decimal comma.
    decimal_commas = spec.delimiter == ";"
    selected = []
    for column in table.column_names:
        if column in spec.file_columns:
            value = f"cast({sql.identifier(spec.file_columns[column])} as varchar)"
            if decimal_commas and table.column(column).type == ColumnType.NUMBER:
                pattern, replacement = map(sql.literal, DECIMAL_COMMA)
                value = f"regexp_replace({value}, {pattern}, {replacement})"
            selected.append(f"{value} as {sql.identifier(column)}")
        elif column == "tenant_id":
            selected.append(f"{sql.literal(DEFAULT_TENANT)} as tenant_id")
        else:
            selected.append(f"cast(null as varchar) as {sql.identifier(column)}")
    if table.keeps_extra_columns:
        selected += [
            f"{sql.identifier(spec.file_columns[c])} as {sql.identifier(c)}"
            for c in spec.extra_columns
        ]
    as_read = ", ".join(
        f"{sql.identifier(key)} := {sql.identifier(name)}"
        for key, name in spec.file_columns.items()
    )

    malformed: list[pacsv.InvalidRow] = []
    con = duckdb.connect()
    try:
        con.execute("set TimeZone = 'UTC'")
        if path.suffix == ".csv":
            con.register("file_rows", _read_csv(spec, malformed))
            scan = "file_rows"
        else:
            scan = f"read_parquet({sql.literal(str(path))})"
        rows = con.sql(
            f"select {', '.join(selected)}, "
            f"row_number() over () as {SOURCE_ROW}, "
            f"cast(null as varchar) as {LOAD_ERROR}, "
            f"cast(to_json(struct_pack({as_read})) as varchar) as {ROW_JSON} "
            f"from {scan}"
        ).to_arrow_table()
    except duckdb.Error as error:
        raise ContractError(f"{path} cannot be read: {error}") from error
    finally:
        con.close()
    if malformed:
        log.warning(
            "%s: %d line(s) could not be parsed; they are quarantined.", path, len(malformed)
        )
        rows = pa.concat_tables([rows, _malformed_rows(spec, malformed, rows.schema)])
    return rows


def _empty(table: Table) -> pa.Table:
    fields = [pa.field(c, pa.string()) for c in table.column_names]
    fields += [
        pa.field(SOURCE_ROW, pa.int64()),
        pa.field(LOAD_ERROR, pa.string()),
        pa.field(ROW_JSON, pa.string()),
    ]
    return pa.schema(fields).empty_table()


def _read_csv(spec: InputFile, malformed: list[pacsv.InvalidRow]) -> pa.Table:
    """The rows of a CSV file in its dialect: every column text, except the extra columns a
    table keeps, typed by what all their values parse as (Arrow's inference).

    Records without the header's number of fields are appended to ``malformed``, in file order.
    """
    assert spec.path is not None and spec.delimiter is not None
    names = list(spec.file_columns.values())
    keeps = spec.extra_columns if spec.table.keeps_extra_columns else []
    text = {name: pa.string() for key, name in spec.file_columns.items() if key not in keeps}
    if _header_only(spec.path):  # Arrow cannot skip a header that no line break ends
        return pa.schema([(name, pa.string()) for name in names]).empty_table()

    def quarantine(row: pacsv.InvalidRow) -> str:
        malformed.append(row)
        return "skip"

    try:
        rows = pacsv.read_csv(
            spec.path,
            read_options=pacsv.ReadOptions(
                column_names=names,
                skip_rows=1,  # the header, read by _read_header
                use_threads=False,  # malformed records arrive in file order (and it is as fast)
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=spec.delimiter,
                quote_char='"',
                double_quote=True,
                escape_char=False,
                newlines_in_values=True,
                invalid_row_handler=quarantine,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=text,
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
    except pa.ArrowInvalid as error:
        raise ContractError(f"{spec.path} cannot be read: {error}") from error
    # A kept column without any value is text, not Arrow's null type.
    for i, field in enumerate(rows.schema):
        if pa.types.is_null(field.type):
            rows = rows.set_column(i, field.name, rows.column(i).cast(pa.string()))
    return rows


def _header_only(path: Path) -> bool:
    with path.open("rb") as file:
        return not _LINE_BREAK.search(file.readline(_BLOCK)) and not file.read(1)


def _malformed_rows(
    spec: InputFile, malformed: list[pacsv.InvalidRow], schema: pa.Schema
) -> pa.Table:
    """Records that could not be split into the header's columns, as rows carrying only the
    error and, in ``_row_json``, the line they start on and their text."""
    assert spec.path is not None
    lines = _start_lines(spec.path, [row.text for row in malformed])
    errors, texts = [], []
    for row, line in zip(malformed, lines, strict=True):
        errors.append(
            f"line {line or '?'}: expected {row.expected_columns} fields, "
            f"found {row.actual_columns}"
        )
        texts.append(json.dumps({"line": line, "text": row.text}, separators=(",", ":")))
    n = len(malformed)
    columns = {name: pa.nulls(n, schema.field(name).type) for name in schema.names}
    if "tenant_id" not in spec.file_columns:
        columns["tenant_id"] = pa.array([DEFAULT_TENANT] * n, pa.string())
    columns[LOAD_ERROR] = pa.array(errors, pa.string())
    columns[ROW_JSON] = pa.array(texts, pa.string())
    return pa.table(columns, schema=schema)


def _start_lines(path: Path, texts: list[str]) -> list[int | None]:
    """The line (1-based) on which each of ``texts``, records of the file in file order,
    starts.

    Arrow gives the text of a record it cannot split but not its line (a quoted field may
    span lines), so each text is found in the file as whole lines, after the previous one.
    """
    content = path.read_bytes().decode("utf-8-sig")
    lines: list[int | None] = []
    line, counted_to, search_from = 1, 0, 0
    for text in texts:
        start = content.find(text, search_from)
        while start >= 0 and not (
            content[start - 1 : start] in ("", "\r", "\n")
            and content[start + len(text) : start + len(text) + 1] in ("", "\r", "\n")
        ):
            start = content.find(text, start + 1)
        if start < 0:
            lines.append(None)
            continue
        between = content[counted_to:start]
        line += between.count("\n") + between.count("\r") - between.count("\r\n")
        lines.append(line)
        counted_to, search_from = start, start + len(text)
    return lines
