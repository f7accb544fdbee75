"""Reading the input files of the contract into raw tables, without losing a row.

``recsql build --data DIR`` reads every table of :mod:`recsql.contract` from DIR: one file,
``<table>.csv`` (``.csv.gz`` and ``.csv.zst`` compressed) or ``<table>.parquet``, or a folder
``<table>/`` of such files, all CSV or all Parquet, read as one table in name order (names
starting with ``_`` or ``.`` are ignored; ``key=value`` folder names are only names). This
module decides what is a contract error (the build stops at once, naming the file and the
column) and turns each table into a raw Arrow table, streamed to the build a batch at a time,
that the dbt staging models validate row by row - or, for a table of Parquet files, into SQL
the build's connection runs itself (:func:`native_read`: the same rows, scanned in parallel):

- every contract column is text (staging casts it and quarantines what does not parse);
- optional columns missing from the file are present and NULL, except ``tenant_id``, which is
  ``'default'`` when the file has no such column;
- extra columns are kept with their own types for the tables whose extra columns are rule
  attributes (items, customers), and ignored, with a warning, elsewhere;
- ``_row_json`` is the row's values exactly as the file held them, under the lower-case
  column names (what ``quarantined_rows`` shows); a table read natively has them in ``_row``
  instead, and staging writes their text only for the rows it rejects;
- a CSV record that cannot be read becomes a row with ``_load_error`` set to its quarantine
  reason (``malformed csv line``: not the header's number of fields, or a quote never closed;
  ``invalid encoding``: a byte that is no text in the file's encoding) and, in ``_row_json``,
  its line, what is wrong and its text (bad bytes written ``\\xNN``), so staging quarantines
  it instead of the reader failing or skipping it;
- ``_source_row`` numbers the rows in file order (1-based) across the table's files, so "the
  first of two duplicates" is well defined; ``_source_file`` (relative to DIR) and
  ``_source_line`` (a CSV row's first line; a Parquet row's number) say where each row is.

CSV files are read in one stated dialect, not guessed: RFC 4180 with the delimiter that the
header line uses (``,``, ``;``, tab or ``|``), ``"`` quotes doubled inside a quoted field, any
mix of CRLF, LF and CR line endings, quoted fields spanning lines. (DuckDB's sniffer gave up on
valid files, e.g. CRLF with one LF row appended.) In a ``;`` file a contract number written
with a decimal comma (``12,50``) is read with a decimal point. The encoding is UTF-8, or what
a byte-order mark says (UTF-16), or the table's stated encoding (``--encoding
items=cp1252``); :mod:`recsql.build.csv_text` turns the bytes into text and records. A file
stops the build only if its header is not text, or more than 1 % of its lines are not: then
it is in another encoding than the one expected, and the message says which to set.

An optional table with no file is an empty table of the right shape: no consents file means
no consent restrictions, not an error.

The **event log** of the HTTP API (``recsql serve``; :func:`recsql.contract.events_directory`:
the folder ``<db>.events/`` beside the served database) is more of the ``interactions`` table:
a build
that publishes to ``<db>`` reads its files after those of the input directory, as if they were
more files of the table's folder (CSV, each with the same columns, read in name order), and
validates, quarantines and counts their rows like any other (``source_file`` names them as
``<db>.events/events-<day>.csv``).
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import json
import logging
import re
import threading
from array import array
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from recsql import sql
from recsql.build import csv_text
from recsql.build.csv_text import Record
from recsql.contract import (
    DEFAULT_TENANT,
    EVENTS_TABLE,
    TABLES,
    TABLES_BY_NAME,
    ColumnType,
    Reason,
    Table,
)

log = logging.getLogger(__name__)

PARQUET_SUFFIX = ".parquet"
#: How a table's file name may end; a table may also be a folder of such files.
TABLE_SUFFIXES = (*csv_text.CSV_SUFFIXES, PARQUET_SUFFIX)
SOURCE_ROW = "_source_row"
LOAD_ERROR = "_load_error"
ROW_JSON = "_row_json"
#: A natively read table's row values (:func:`native_read`), where ``_row_json`` is NULL.
ROW = "_row"
SOURCE_FILE = "_source_file"
SOURCE_LINE = "_source_line"
BOOKKEEPING_COLUMNS = (SOURCE_ROW, LOAD_ERROR, ROW_JSON, SOURCE_FILE, SOURCE_LINE)

#: The delimiters a CSV header line may use: the one it holds most of (``,`` on a tie).
DELIMITERS = (",", ";", "\t", "|")
#: A plain number with a decimal comma, and its rewrite with a decimal point.
DECIMAL_COMMA = (r"^(\s*[+-]?[0-9]+),([0-9]+\s*)$", r"\1.\2")
#: The largest share of a CSV file's lines that may hold bytes that are not text (each is
#: quarantined); past it the file is in another encoding than the one expected.
MAX_NOT_TEXT_SHARE = 0.01
#: Rows per batch of a table streamed from its files (to DuckDB, by the dbt plugin).
BATCH_ROWS = 100_000
#: The memory of the DuckDB connection that turns a file's rows into the raw shape: a
#: projection, streamed, needs little.
READER_MEMORY = "1GiB"


class ContractError(ValueError):
    """The input files do not follow the contract; the build must stop before it starts."""


@dataclass(frozen=True)
class SourceFile:
    """One file of a table."""

    path: Path
    #: The path relative to the input directory (what ``quarantined_rows.source_file`` shows).
    name: str
    #: Column names as written in the file, by their lower-case contract name.
    columns: dict[str, str]
    #: A CSV file's delimiter and codec (None for Parquet).
    delimiter: str | None = None
    encoding: str | None = None


@dataclass(frozen=True)
class InputTable:
    """One contract table and where it is: a file, a folder of files (``path``), or nothing."""

    table: Table
    path: Path | None
    #: The files, in the order they are read; every one has the same columns.
    files: tuple[SourceFile, ...] = ()

    @property
    def present(self) -> bool:
        return self.path is not None

    @property
    def file_columns(self) -> dict[str, str]:
        """Column names as written in the (first) file, by their lower-case contract name."""
        return self.files[0].columns if self.files else {}

    @property
    def extra_columns(self) -> list[str]:
        return [c for c in self.file_columns if c not in self.table.column_names]


# --- Checking the directory ---------------------------------------------------------------------


def locate_events(events_dir: Path | None) -> InputTable:
    """The files of the event log, checked like the files of a table's folder (none: no log
    yet, or an empty one)."""
    if events_dir is None or not events_dir.is_dir() or not any(_files_under(events_dir)):
        return InputTable(TABLES_BY_NAME[EVENTS_TABLE], None)
    table = TABLES_BY_NAME[EVENTS_TABLE]
    return InputTable(table, events_dir, _folder_files(events_dir.parent, events_dir, table, None))


def locate_all(
    data_dir: Path | str,
    *,
    warn: bool = True,
    encodings: Mapping[str, str] | None = None,
    events_dir: Path | None = None,
) -> dict[str, InputTable]:
    """Check the whole input directory (and the event log ``events_dir``, if given); raise
    :class:`ContractError` on the first problem.

    ``encodings`` states the encoding of a table's CSV files by table name (Python's codec
    names: ``cp1252``, ``latin-1``, ``utf-16``...). With ``warn``, log what is ignored: files
    that are no table of the contract, columns that are not in it. (``recsql build`` checks
    quietly before dbt starts; the dbt plugin checks again and warns, so each warning is
    printed once.)
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
    encodings = checked_encodings(encodings)
    inputs = {t.name: locate(data_dir, t, encodings.get(t.name)) for t in TABLES}
    locate_events(events_dir)
    if not warn:
        return inputs
    known = {path for t in TABLES for path in _places(data_dir, t)}
    for path in sorted(data_dir.iterdir()):
        # Files starting with "_" are the user's own (the generator's answer key, notes).
        if (
            path.name.lower().endswith(TABLE_SUFFIXES)
            and path not in known
            and not path.name.startswith("_")
        ):
            log.warning("Ignoring %s: not a table of the contract.", path)
    for name in encodings:
        if inputs[name].present and not any(f.encoding for f in inputs[name].files):
            log.warning("Ignoring the encoding of %s: its files are Parquet.", name)
    for spec in inputs.values():
        if spec.present and spec.extra_columns and not spec.table.keeps_extra_columns:
            log.warning(
                "Ignoring column(s) %s of %s: not in the contract.",
                ", ".join(spec.extra_columns),
                spec.path,
            )
    return inputs


def estimated_rows(spec: InputTable) -> int:
    """About how many rows the files of ``spec`` hold, without reading them: a Parquet file's
    count from its footer, a CSV file's lines but its header (a quoted value may span lines)."""
    rows = 0
    for file in spec.files:
        if file.delimiter is None:
            rows += pq.ParquetFile(file.path).metadata.num_rows
        else:
            with csv_text.open_stream(file.path) as text:  # decompressed
                chunks = iter(lambda: text.read(csv_text.BLOCK), b"")
                rows += max(0, sum(chunk.count(b"\n") for chunk in chunks) - 1)
    return rows


#: The fewest bytes a CSV row of the contract takes (ids, a timestamp, delimiters), and how
#: many times a compressed CSV file is smaller than its text, at most (for
#: :func:`rows_at_most`).
CSV_ROW_BYTES_AT_LEAST = 16
CSV_COMPRESSION_AT_MOST = 20


def rows_at_most(spec: InputTable) -> int:
    """At most how many rows the files of ``spec`` hold, without reading a CSV file through
    (:func:`estimated_rows` counts its lines): a Parquet file's count from its footer, a CSV
    file's size over the fewest bytes a row takes (times the most a compressed one shrinks)."""
    rows = 0
    for file in spec.files:
        if file.delimiter is None:
            rows += pq.ParquetFile(file.path).metadata.num_rows
        else:
            compressed = file.path.name.lower().endswith((".gz", ".zst"))
            size = file.path.stat().st_size * (CSV_COMPRESSION_AT_MOST if compressed else 1)
            rows += size // CSV_ROW_BYTES_AT_LEAST
    return rows


def checked_encodings(encodings: Mapping[str, str] | None) -> dict[str, str]:
    """Stated encodings by table, each checked: a table of the contract, a codec Python has."""
    for table, encoding in (encodings or {}).items():
        if table not in TABLES_BY_NAME:
            raise ContractError(
                f"--encoding {table}={encoding}: {table!r} is not a table of the contract "
                f"({', '.join(TABLES_BY_NAME)})."
            )
        try:
            csv_text.codec(encoding)
        except LookupError:
            raise ContractError(
                f"--encoding {table}={encoding}: Python knows no encoding {encoding!r}; "
                "for example cp1252 (Windows), latin-1, utf-16, shift_jis."
            ) from None
    return dict(encodings or {})


def _places(data_dir: Path, table: Table) -> list[Path]:
    """Where a table may be: a file with each of the suffixes, or a folder."""
    return [data_dir / f"{table.name}{suffix}" for suffix in TABLE_SUFFIXES] + [
        data_dir / table.name
    ]


def locate(data_dir: Path, table: Table, encoding: str | None = None) -> InputTable:
    """Find the file or folder of one table in ``data_dir`` and check its columns against the
    contract (and a CSV file's text: :func:`_csv_file`)."""
    places = _places(data_dir, table)
    found = [p for p in places[:-1] if p.is_file()] + [p for p in places[-1:] if p.is_dir()]
    if len(found) > 1:
        raise ContractError(
            f"Both {found[0]} and {found[1]} exist: keep one file (or one folder) per table."
        )
    if not found:
        if table.required:
            raise ContractError(
                f"Missing required input {places[0]} (or {table.name}.parquet, "
                f"{table.name}.csv.gz, {table.name}.csv.zst, or a folder {table.name}/ of "
                f"such files): the {table.name} table is required. Columns: "
                f"{', '.join(table.required_columns)} (required), "
                f"{', '.join(c for c in table.column_names if c not in table.required_columns)}"
                " (optional)."
            )
        return InputTable(table, None)

    path = found[0]
    if path.is_dir():
        files = _folder_files(data_dir, path, table, encoding)
    else:
        single = _source_file(data_dir, path, table, encoding)
        if single is None:
            raise ContractError(f"{path} is empty: expected a header row with the column names.")
        files = (single,)

    first = files[0]
    names = list(first.columns.values())
    missing = [c for c in table.required_columns if c not in first.columns]
    if missing:
        raise ContractError(
            f"{first.path} is missing the required column {missing[0]!r}"
            + (f" (and {', '.join(map(repr, missing[1:]))})" if len(missing) > 1 else "")
            + f". It has: {', '.join(names) or 'no columns'}."
        )
    if table.one_of and not any(c in first.columns for c in table.one_of):
        raise ContractError(
            f"{first.path} needs at least one of the columns {', '.join(table.one_of)}."
        )
    extras = [c for c in first.columns if c not in table.column_names]
    clashing = [c for c in extras if c in table.reserved]
    if clashing:
        raise ContractError(
            f"{first.path} has the column(s) {', '.join(map(repr, clashing))}, which recsql "
            "derives itself (rules test them); rename them."
        )
    if extras and table.rejects_extra_columns:
        raise ContractError(
            f"{first.path} has unknown column(s) {', '.join(map(repr, extras))}; known columns: "
            f"{', '.join(table.column_names)}."
        )
    return InputTable(table, path, files)


def _folder_files(
    data_dir: Path, folder: Path, table: Table, encoding: str | None
) -> tuple[SourceFile, ...]:
    """The files of a table's folder in name order, checked: all CSV or all Parquet, with the
    same columns. Empty files hold no rows and are skipped."""
    paths = sorted(_files_under(folder), key=lambda p: p.relative_to(folder).parts)
    kinds = "'.csv', '.csv.gz', '.csv.zst' or '.parquet' files"
    if not paths:
        raise ContractError(
            f"The folder {folder} holds no files: put the {table.name} table's {kinds} in it."
        )
    for path in paths:
        if not path.name.lower().endswith(TABLE_SUFFIXES):
            raise ContractError(
                f"{path} is not a table file: the folder {folder.name}/ may hold only {kinds} "
                "(names starting with _ or . are ignored)."
            )
    csv_files = [p for p in paths if csv_text.is_csv(p)]
    if csv_files and len(csv_files) < len(paths):
        parquet = next(p for p in paths if not csv_text.is_csv(p))
        raise ContractError(
            f"The folder {folder} holds both CSV ({csv_files[0].name}) and Parquet "
            f"({parquet.name}) files: keep one format per table."
        )
    files = tuple(f for p in paths if (f := _source_file(data_dir, p, table, encoding)) is not None)
    if not files:
        raise ContractError(f"Every file in {folder} is empty: expected a header row in each.")
    first = files[0]
    for other in files[1:]:
        if set(other.columns) != set(first.columns):
            only = sorted(set(first.columns) - set(other.columns))
            only_other = sorted(set(other.columns) - set(first.columns))
            differences = [f"{', '.join(only)} only in the first" if only else ""]
            differences += [f"{', '.join(only_other)} only in the second" if only_other else ""]
            raise ContractError(
                f"{first.path} and {other.path} have different columns "
                f"({'; '.join(d for d in differences if d)}): every file of a table needs the "
                "same columns."
            )
    for file in files:
        for part in file.path.relative_to(folder).parent.parts:
            key = part.partition("=")[0].strip().lower()
            if "=" in part and key in table.column_names and key not in file.columns:
                raise ContractError(
                    f"{file.path} has no {key} column, and recsql does not read values from "
                    f"folder names ({part}): write the {key} column into the files."
                )
    return files


def _files_under(folder: Path) -> Iterator[Path]:
    """Every file in ``folder`` and its subfolders, except names starting with ``_`` or ``.``
    (``_SUCCESS``, ``.part-0.crc``: what Spark and Hadoop write beside the data)."""
    for path in folder.iterdir():
        if path.name.startswith(("_", ".")):
            continue
        if path.is_dir():
            yield from _files_under(path)
        else:
            yield path


def _source_file(
    data_dir: Path, path: Path, table: Table, encoding: str | None
) -> SourceFile | None:
    """One file's columns, checked (None if the file holds nothing, not even a header)."""
    name = path.relative_to(data_dir).as_posix()
    if path.stat().st_size == 0:
        return None
    if csv_text.is_csv(path):
        file = _csv_file(path, name, table, encoding)
        if file is None:
            return None
        names, delimiter, codec = file
    else:
        names, delimiter, codec = _parquet_columns(path), None, None
    columns: dict[str, str] = {}
    for written in names:
        key = written.strip().lower()
        if key in columns:
            raise ContractError(f"{path} has the column {key!r} twice.")
        columns[key] = written
    return SourceFile(path, name, columns, delimiter, codec)


def _parquet_columns(path: Path) -> list[str]:
    """The columns of a Parquet file as DuckDB reads them."""
    scan = f"read_parquet({sql.literal(str(path))})"
    try:
        with _schema_reader() as con:
            return list(con.sql(f"select * from {scan} limit 0").columns)
    except duckdb.Error as error:
        raise ContractError(f"{path} cannot be read: {error}") from error


_schema_readers: list[duckdb.DuckDBPyConnection] = []
_schema_readers_lock = threading.Lock()


@contextlib.contextmanager
def _schema_reader() -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB connection that reads files' schemas, kept for the next: opening
    one takes 20 ms, and a build checks every input file twice (before dbt and in the dbt
    plugin)."""
    with _schema_readers_lock:
        con = _schema_readers.pop() if _schema_readers else None
    con = con or duckdb.connect(config={"threads": 1})
    try:
        yield con
    finally:
        with _schema_readers_lock:
            _schema_readers.append(con)


def _csv_file(
    path: Path, name: str, table: Table, stated: str | None
) -> tuple[list[str], str, str] | None:
    """A CSV file's column names as written, its delimiter and its codec (None if it holds no
    text at all).

    The delimiter is the one the header line uses most, outside quotes; a column without a
    name is called ``column<position>``. The file stops the build if its header is not text
    in its encoding, or more than :data:`MAX_NOT_TEXT_SHARE` of its lines are not.
    """
    try:
        encoding = csv_text.encoding_of(path, stated)
        line = csv_text.header(path, encoding)
        if line and not csv_text.is_text(line):
            raise _not_text(path, table, encoding, 1, line)
        scan = csv_text.scan(path, encoding)
    except OSError as error:  # not gzip or zstd data, or cut short
        raise ContractError(f"{path} cannot be read: {error}") from error
    if not line.strip():
        if not scan.last_text_line:
            return None  # no text at all: an empty file (compressed)
        raise ContractError(f"{path} starts with a blank line: its first line is the header.")
    if scan.first_bad_line and scan.bad_lines > MAX_NOT_TEXT_SHARE * scan.lines:
        number, bad = scan.first_bad_line
        raise _not_text(path, table, encoding, number, bad, (scan.bad_lines, scan.lines))
    outside_quotes = re.sub(r'"[^"]*"', "", line)
    delimiter = max(DELIMITERS, key=outside_quotes.count)
    names = next(csv.reader([line], delimiter=delimiter), [])
    return [name or f"column{i}" for i, name in enumerate(names, 1)], delimiter, encoding


def _not_text(
    path: Path,
    table: Table,
    encoding: str,
    number: int,
    line: str,
    share: tuple[int, int] | None = None,
) -> ContractError:
    """The error for a file in another encoding than expected: the first bad line, how many
    there are, and the option to set (two lines)."""
    what = f"{csv_text.first_bad_byte(line)} in '{csv_text.shown(line)[:60]}'"
    text = f"{csv_text.described(encoding)} text"
    if share is None:
        where = f"{path} line 1, the header, is not {text}: {what}."
    else:
        bad, lines = share
        where = (
            f"{path} line {number} is not {text} ({what}): {bad:,} of its {lines:,} lines "
            "are not, more than the 1 % that may be quarantined."
        )
    suggested = csv_text.suggested_encoding(line, encoding)
    return ContractError(
        f"{where}\nIs it {suggested}? Set the encoding of {table.name}: recsql build "
        f"--encoding {table.name}={suggested} (dbt: --vars '{{encodings: "
        f"{{{table.name}: {suggested}}}}}')."
    )


# --- Reading a table ----------------------------------------------------------------------------


def read_table(
    data_dir: Path | str,
    name: str,
    encodings: Mapping[str, str] | None = None,
    events_dir: Path | None = None,
) -> pa.Table:
    """Locate and read one table by name: :func:`stream_table`'s rows as one Arrow table."""
    return stream_table(data_dir, name, encodings, events_dir).read_all()


def stream_table(
    data_dir: Path | str,
    name: str,
    encodings: Mapping[str, str] | None = None,
    events_dir: Path | None = None,
) -> pa.RecordBatchReader:
    """Locate one table by name and stream its rows (what the dbt plugin hands DuckDB); the
    interactions with the rows of the event log ``events_dir`` after those of the input
    directory."""
    stated = checked_encodings(encodings).get(name)
    table = stream(locate(Path(data_dir), TABLES_BY_NAME[name], stated))
    log_files = locate_events(events_dir) if name == EVENTS_TABLE else None
    if log_files is None or not log_files.present:
        return table

    def batches() -> Iterator[pa.RecordBatch]:
        rows = yield from _numbered(table)
        logged = yield from _numbered(stream(log_files, rows_before=rows))
        log.info("Read %d interaction(s) from the event log %s.", logged, events_dir)

    return pa.RecordBatchReader.from_batches(table.schema, batches())


def read(spec: InputTable, rows_before: int = 0) -> pa.Table:
    """Read one table's files into the raw shape described in the module docstring (rows
    numbered after ``rows_before`` rows read before them)."""
    return stream(spec, rows_before).read_all()


def stream(spec: InputTable, rows_before: int = 0) -> pa.RecordBatchReader:
    """:func:`read`'s rows, a batch at a time. A file is opened when the batches of the one
    before it have been taken, so one file's parse is held at a time (a CSV file's whole, a
    Parquet file's a row group at a time): what bounds the memory of reading 20 million
    interactions. Tables whose extra columns are kept (items, customers: small ones) are read
    whole when they have several files, since each file may type those columns differently
    (:func:`_concatenated`)."""
    if not spec.present:
        return _empty(spec.table).to_reader()
    if spec.table.keeps_extra_columns and len(spec.files) > 1:
        parts = []
        for file in spec.files:
            part = _read_file(spec, file, rows_before).read_all()
            rows_before += part.column(LOAD_ERROR).null_count
            parts.append(part)
        return _concatenated(parts).to_reader()
    # the first file is opened at once: it gives the schema, and its errors stop the build now
    first = _read_file(spec, spec.files[0], rows_before)

    def batches() -> Iterator[pa.RecordBatch]:
        rows = rows_before + (yield from _numbered(first))
        for file in spec.files[1:]:
            rows += yield from _numbered(_read_file(spec, file, rows))

    return pa.RecordBatchReader.from_batches(first.schema, batches())


def _numbered(reader: pa.RecordBatchReader) -> Generator[pa.RecordBatch, None, int]:
    """Yield the batches of ``reader``; return how many of their rows were read (have no load
    error), which is where the ``_source_row`` numbers of the rows after them start."""
    rows = 0
    for batch in reader:
        rows += batch.column(LOAD_ERROR).null_count
        yield batch
    return rows


def _empty(table: Table) -> pa.Table:
    fields = [pa.field(c, pa.string()) for c in table.column_names]
    fields += [
        pa.field(SOURCE_ROW, pa.int64()),
        pa.field(LOAD_ERROR, pa.string()),
        pa.field(ROW_JSON, pa.string()),
        pa.field(SOURCE_FILE, pa.string()),
        pa.field(SOURCE_LINE, pa.int64()),
    ]
    return pa.schema(fields).empty_table()


def _no_rows_select(table: Table) -> str:
    """A select of no rows in the raw shape of an absent table's stream (:func:`_empty`, with
    the ``_row`` column the dbt plugin adds to a stream)."""
    types = {pa.string(): "varchar", pa.int64(): "bigint"}
    columns = [
        f"cast(null as {types[column.type]}) as {sql.identifier(column.name)}"
        for column in (*_empty(table).schema, pa.field(ROW, pa.string()))
    ]
    return f"select {', '.join(columns)} where false"


def _raw_select(
    spec: InputTable,
    file: SourceFile,
    scan: str,
    number: str,
    line: str,
    rows_before: int,
    row_text: bool = True,
) -> str:
    """The select of one file's rows in the raw shape from ``scan``, the file's rows (a
    Parquet file, or a CSV file's parsed rows): ``number`` numbers them from 1 in file order,
    ``line`` says where each is. With ``row_text`` false, ``_row_json`` is NULL and ``_row``
    holds the row's values instead (:func:`native_read`)."""
    table = spec.table
    # In a ";" file a comma separates no fields, so in a number it is a decimal comma.
    decimal_commas = file.delimiter == ";"
    selected = []
    for column in table.column_names:
        if column in file.columns:
            value = f"cast({sql.identifier(file.columns[column])} as varchar)"
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
            f"{sql.identifier(file.columns[c])} as {sql.identifier(c)}" for c in spec.extra_columns
        ]
    as_read = ", ".join(
        f"{sql.identifier(key)} := {sql.identifier(name)}" for key, name in file.columns.items()
    )
    row = f"struct_pack({as_read})"
    if row_text:
        row_columns = f"cast(to_json({row}) as varchar) as {ROW_JSON}"
    else:
        row_columns = f"cast(null as varchar) as {ROW_JSON}, {row} as {ROW}"
    return (
        f"select {', '.join(selected)}, "
        f"{number} + {rows_before} as {SOURCE_ROW}, "
        f"cast(null as varchar) as {LOAD_ERROR}, "
        f"{row_columns}, "
        f"{sql.literal(file.name)} as {SOURCE_FILE}, "
        f"cast({line} as bigint) as {SOURCE_LINE} "
        f"from {scan}"
    )


def _parquet_scan(file: SourceFile) -> tuple[str, str]:
    """How to read a Parquet file's rows in file order, and the expression that numbers them
    from 1."""
    path = sql.literal(str(file.path))
    if _has_row_number_column(file):
        # DuckDB cannot add its row number column: number the rows in a window
        return f"read_parquet({path})", "row_number() over ()"
    # the rows as the file orders them, streamed (no window over the file)
    return f"read_parquet({path}, file_row_number = true)", "file_row_number + 1"


def _has_row_number_column(file: SourceFile) -> bool:
    """Whether the file has a column DuckDB's ``file_row_number`` would clash with."""
    return any(name.lower() == "file_row_number" for name in file.columns.values())


@dataclass(frozen=True)
class NativeRead:
    """A table of Parquet files read by SQL in the build's own connection."""

    #: The select of the table's rows in the raw shape, with ``_row`` for ``_row_json``.
    sql: str
    #: How many rows it has (the files' metadata).
    rows: int


def native_read(
    data_dir: Path | str,
    name: str,
    encodings: Mapping[str, str] | None = None,
    events_dir: Path | None = None,
) -> NativeRead | None:
    """The table ``name`` as SQL the build's connection runs itself, when its files are all
    Parquet: DuckDB then scans them in parallel, where a stream of Arrow batches
    (:func:`stream_table`) is scanned on one thread. Its rows are :func:`stream_table`'s,
    except that a row's values are in ``_row`` (a struct) and ``_row_json`` is NULL: staging
    writes the text only for the rows it rejects (``macros/duplicate_row_reason.sql``).

    An optional table without files is an empty select of the shape a stream would have
    (``_row`` NULL text), so that no stream is registered for it either.

    None when the table is streamed: CSV files (parsed in Python), the interactions with an
    event log, several files of a table that keeps its extra columns (each may type them
    differently), a file whose rows DuckDB numbers in a window."""
    spec = locate(Path(data_dir), TABLES_BY_NAME[name], checked_encodings(encodings).get(name))
    if name == EVENTS_TABLE and locate_events(events_dir).present:
        return None
    if not spec.present:
        return None if spec.table.required else NativeRead(_no_rows_select(spec.table), 0)
    if any(file.delimiter is not None for file in spec.files):
        return None
    if spec.table.keeps_extra_columns and len(spec.files) > 1:
        return None
    if any(_has_row_number_column(file) for file in spec.files):
        return None
    selects, rows = [], 0
    for file in spec.files:
        scan, line = _parquet_scan(file)
        selects.append(_raw_select(spec, file, scan, line, line, rows, row_text=False))
        try:
            rows += pq.read_metadata(file.path).num_rows
        except (OSError, pa.ArrowException) as error:
            raise ContractError(f"{file.path} cannot be read: {error}") from error
    return NativeRead(" union all ".join(selects), rows)


def _read_file(spec: InputTable, file: SourceFile, rows_before: int) -> pa.RecordBatchReader:
    """One file's rows in the raw shape, numbered after the ``rows_before`` rows of the files
    before it, as a stream of batches; the records that cannot be read come last. The file is
    opened (and a CSV file parsed) now; its rows are turned into the raw shape as the batches
    are taken, on a DuckDB connection of its own that the last batch closes."""
    unread: list[Record] = []
    con = duckdb.connect(config={"memory_limit": READER_MEMORY})
    try:
        con.execute("set TimeZone = 'UTC'")
        if file.delimiter is not None:
            rows, lines, unread = _read_csv(spec, file)
            # the lines and the row numbers go along under names no column of the file has
            line_column = "_line"
            while line_column in rows.column_names:
                line_column = f"_{line_column}"
            number_column = f"{line_column}_number"
            numbers = pa.array(np.arange(1, rows.num_rows + 1, dtype=np.int64))
            con.register(
                "file_rows",
                rows.append_column(line_column, lines).append_column(number_column, numbers),
            )
            scan, line = "file_rows", sql.identifier(line_column)
            number = sql.identifier(number_column)
        else:
            scan, line = _parquet_scan(file)
            number = line
        reader = con.sql(_raw_select(spec, file, scan, number, line, rows_before)).to_arrow_reader(
            BATCH_ROWS
        )
    except BaseException as error:
        con.close()
        if isinstance(error, duckdb.Error):
            raise ContractError(f"{file.path} cannot be read: {error}") from error
        raise
    if unread:
        log.warning(
            "%s: %d line(s) could not be read; they are quarantined.", file.path, len(unread)
        )

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            yield from reader
        except duckdb.Error as error:  # e.g. a Parquet file damaged past its first row group
            raise ContractError(f"{file.path} cannot be read: {error}") from error
        finally:
            con.close()
        if unread:
            yield from _unread_rows(file, unread, reader.schema).to_batches()

    return pa.RecordBatchReader.from_batches(reader.schema, batches())


def _read_csv(spec: InputTable, file: SourceFile) -> tuple[pa.Table, pa.Array, list[Record]]:
    """The rows of a CSV file in its dialect, the line each starts on, and the records that
    cannot be read, in file order.

    Every column is text, except the extra columns a table keeps, typed by what all their
    values parse as (Arrow's inference). A file whose bytes are all text and whose quotes are
    all closed goes to Arrow as it is; any other file, or one whose records Arrow finds are
    not one a line, is split into records first (:func:`_read_split`).
    """
    assert file.encoding is not None
    try:
        scan = csv_text.scan(file.path, file.encoding)
        if scan.clean and (read := _read_as_it_is(spec, file, scan)) is not None:
            return read
        return _read_split(spec, file)
    except (OSError, pa.ArrowException) as error:
        raise ContractError(f"{file.path} cannot be read: {error}") from error


def _read_as_it_is(
    spec: InputTable, file: SourceFile, scan: csv_text.Scan
) -> tuple[pa.Table, pa.Array, list[Record]] | None:
    """Arrow's parse of the file as it is, if each record is one line with no blank line
    between (its records and the lines up to the last with text are as many): record k is
    then on line k + 1. None otherwise: the lines are not known."""
    if scan.last_text_line <= 1:  # Arrow cannot skip a header that no line break ends
        return _no_rows(file), pa.array([], pa.int64()), []
    invalid: list[pacsv.InvalidRow] = []
    try:
        with csv_text.open_stream(file.path) as stream:
            rows = _parsed(spec, file, stream, invalid, header=True)
    except pa.ArrowInvalid:
        return None
    if rows.num_rows + len(invalid) + 1 != scan.last_text_line:
        return None
    return _placed(file, rows, invalid, np.arange(2, scan.last_text_line + 1), first_number=2)


def _read_split(spec: InputTable, file: SourceFile) -> tuple[pa.Table, pa.Array, list[Record]]:
    """Arrow's parse of the records :func:`csv_text.records` reads, as UTF-8, streamed: the
    ones that cannot be read are set aside, and the line of the others is known."""
    assert file.encoding is not None and file.delimiter is not None
    starts = array("q")
    unread: list[Record] = []

    def readable(records: Iterator[Record]) -> Iterator[bytes]:
        batch: list[str] = []
        size = 0
        for record in records:
            if record.reason:
                unread.append(record)
                continue
            starts.append(record.line)
            batch.append(record.text)
            size += len(record.text)
            if size >= csv_text.BLOCK:
                yield "".join(batch).encode()
                batch, size = [], 0
        if batch:
            yield "".join(batch).encode()

    chunks = readable(csv_text.records(file.path, file.encoding, file.delimiter))
    first = next(chunks, None)
    invalid: list[pacsv.InvalidRow] = []
    if first is None:
        rows = _no_rows(file)
    else:
        stream = _ChunkReader(itertools.chain([first], chunks))
        rows = _parsed(spec, file, stream, invalid, header=False, encoding="utf8")
    rows, lines, malformed = _placed(file, rows, invalid, np.frombuffer(starts, np.int64), 1)
    return rows, lines, sorted(unread + malformed, key=lambda record: record.line)


def _parsed(
    spec: InputTable,
    file: SourceFile,
    stream: pa.NativeFile | io.RawIOBase,
    invalid: list[pacsv.InvalidRow],
    *,
    header: bool,
    encoding: str | None = None,
) -> pa.Table:
    """Arrow's parse of a CSV stream (with its header line, or without) in the file's
    dialect. Records without the header's number of fields are appended to ``invalid``, in
    file order."""
    assert file.delimiter is not None and file.encoding is not None
    keeps = spec.extra_columns if spec.table.keeps_extra_columns else []
    text = {name: pa.string() for key, name in file.columns.items() if key not in keeps}
    if encoding is None:  # Arrow reads UTF-8 (and skips its byte-order mark) itself
        encoding = "utf8" if file.encoding in ("utf-8", "utf-8-sig") else file.encoding

    def set_aside(row: pacsv.InvalidRow) -> str:
        invalid.append(row)
        return "skip"

    rows = pacsv.read_csv(
        stream,
        read_options=pacsv.ReadOptions(
            column_names=list(file.columns.values()),
            skip_rows=1 if header else 0,
            use_threads=False,  # invalid records arrive in file order (and it is as fast)
            encoding=encoding,
        ),
        parse_options=pacsv.ParseOptions(
            delimiter=file.delimiter,
            quote_char='"',
            double_quote=True,
            escape_char=False,
            newlines_in_values=True,
            invalid_row_handler=set_aside,
        ),
        convert_options=pacsv.ConvertOptions(
            column_types=text,
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    )
    # A kept column without any value is text, not Arrow's null type.
    for i, field in enumerate(rows.schema):
        if pa.types.is_null(field.type):
            rows = rows.set_column(i, field.name, rows.column(i).cast(pa.string()))
    return rows


def _no_rows(file: SourceFile) -> pa.Table:
    return pa.schema([(name, pa.string()) for name in file.columns.values()]).empty_table()


def _placed(
    file: SourceFile,
    rows: pa.Table,
    invalid: list[pacsv.InvalidRow],
    record_lines: np.ndarray,
    first_number: int,
) -> tuple[pa.Table, pa.Array, list[Record]]:
    """The rows, the line of each, and Arrow's invalid records as records that cannot be
    read: ``record_lines`` holds the line of every record Arrow parsed, valid or not, and
    Arrow numbers an invalid one from ``first_number``."""
    if rows.num_rows + len(invalid) != len(record_lines) or any(
        row.number is None for row in invalid
    ):
        raise ContractError(
            f"{file.path} cannot be read: its records could not be told apart (please report "
            "this, with the file if you can)."
        )
    is_valid = np.ones(len(record_lines), dtype=bool)
    unread = []
    for row in invalid:
        index = row.number - first_number
        is_valid[index] = False
        error = f"expected {row.expected_columns} fields, found {row.actual_columns}"
        unread.append(Record(int(record_lines[index]), row.text, Reason.MALFORMED_LINE, error))
    return rows, pa.array(record_lines[is_valid], pa.int64()), unread


class _ChunkReader(io.RawIOBase):
    """A file that reads an iterator of byte chunks (Arrow parses a CSV from it)."""

    def __init__(self, chunks: Iterator[bytes]):
        self._chunks = chunks
        self._rest = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._rest:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._rest = memoryview(chunk)
        size = min(len(buffer), len(self._rest))
        buffer[:size] = self._rest[:size]
        self._rest = self._rest[size:]
        return size


def _unread_rows(file: SourceFile, unread: list[Record], schema: pa.Schema) -> pa.Table:
    """Records that cannot be read, as rows carrying only their reason, where they are and,
    in ``_row_json``, their line, what is wrong and their text."""
    n = len(unread)
    columns = {name: pa.nulls(n, schema.field(name).type) for name in schema.names}
    if "tenant_id" not in file.columns:
        columns["tenant_id"] = pa.array([DEFAULT_TENANT] * n, pa.string())
    columns[LOAD_ERROR] = pa.array([str(r.reason) for r in unread], pa.string())
    columns[ROW_JSON] = pa.array(
        [
            json.dumps(
                {"line": r.line, "error": r.error, "text": csv_text.shown(r.text.rstrip("\r\n"))},
                separators=(",", ":"),
            )
            for r in unread
        ],
        pa.string(),
    )
    columns[SOURCE_FILE] = pa.array([file.name] * n, pa.string())
    columns[SOURCE_LINE] = pa.array([r.line for r in unread], pa.int64())
    return pa.table(columns, schema=schema)


def _concatenated(parts: list[pa.Table]) -> pa.Table:
    """The files' rows as one table. A kept extra column that Arrow typed differently in
    different files is a number if it is one in each, else text."""
    if len(parts) == 1:
        return parts[0]
    for name in parts[0].column_names:
        if len({part.schema.field(name).type for part in parts}) == 1:
            continue
        # a file without rows (a day without events) has text columns: it does not count
        types = {part.schema.field(name).type for part in parts if part.num_rows}
        if len(types) == 1:
            target = types.pop()
        elif types and all(pa.types.is_integer(t) or pa.types.is_floating(t) for t in types):
            target = pa.float64()
        else:
            target = pa.string()
        parts = [
            part.set_column(part.column_names.index(name), name, part.column(name).cast(target))
            if part.schema.field(name).type != target
            else part
            for part in parts
        ]
    return pa.concat_tables(parts)
