"""Inputs as users have them: encodings, bytes that are no text, compressed files and tables
split over a folder of files.

Each case is a table's files and the exact outcome they must give: the rows read, the records
set aside (with their reason and line), or the contract error. The reader is tested directly
(fast); two builds check that the same rows reach quarantined_rows with their file and line.
"""

from __future__ import annotations

import gzip
import itertools
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsql.build import csv_text, inputs
from recsql.build.dbt_plugin import Plugin
from recsql.build.inputs import ContractError
from tests.conftest import query, run_recsql

INTERACTIONS = "customer_id,item_id,occurred_at\nc1,i1,2025-01-01\n"
NAMES = ["Crème brûlée £3 – café", "Œuf à 2 €", "Mug"]
ITEMS_TEXT = "item_id,name\r\n" + "".join(f"i{n},{name}\r\n" for n, name in enumerate(NAMES, 1))


def zstd(data: bytes) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.CompressedOutputStream(sink, "zstd") as stream:
        stream.write(data)
    return sink.getvalue().to_pybytes()


def test_a_folder_is_streamed_one_file_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading 20 million interactions must not hold every file at once: a file is parsed
    when the rows of the files before it have been taken (what the dbt plugin streams)."""
    parsed: list[str] = []
    parse = inputs._read_csv

    def recording(spec: inputs.InputTable, file: inputs.SourceFile) -> Any:
        parsed.append(file.name)
        return parse(spec, file)

    monkeypatch.setattr(inputs, "_read_csv", recording)
    monkeypatch.setattr(inputs, "BATCH_ROWS", 1)
    day = "customer_id,item_id,occurred_at\nc{0},i1,2025-05-0{0}\nc{0}b,i1,2025-05-0{0}\n"
    write_files(
        tmp_path,
        {f"interactions/day-{n}.csv": day.format(n).encode() for n in (1, 2, 3)},
    )
    stream = inputs.stream_table(tmp_path, "interactions")
    assert parsed == ["interactions/day-1.csv"]  # the first file gives the schema
    first = stream.read_next_batch()
    assert first.column("customer_id").to_pylist() == ["c1"]
    assert parsed == ["interactions/day-1.csv"]
    rest = pa.Table.from_batches(list(stream))
    assert parsed == [f"interactions/day-{n}.csv" for n in (1, 2, 3)]
    assert rest.column("_source_row").to_pylist() == [2, 3, 4, 5, 6]


def write_files(directory: Path, files: dict[str, bytes]) -> Path:
    """``files`` by path relative to ``directory`` (folders are made), with interactions.csv
    added unless the table is among them."""
    directory.mkdir(parents=True, exist_ok=True)
    if not any(name.startswith("interactions") for name in files):
        (directory / "interactions.csv").write_text(INTERACTIONS)
    for name, data in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return directory


def read(directory: Path, table: str, encodings: dict[str, str] | None = None) -> list[dict]:
    return inputs.read_table(directory, table, encodings).to_pylist()


def read_rows(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r["_load_error"] is None]


def unread(rows: list[dict]) -> list[tuple[str, int, str, str]]:
    """The records set aside: (reason, line, error, text as shown)."""
    return [
        (
            r["_load_error"],
            r["_source_line"],
            json.loads(r["_row_json"])["error"],
            json.loads(r["_row_json"])["text"],
        )
        for r in rows
        if r["_load_error"] is not None
    ]


# --- Encodings: (file bytes, stated encoding) -> every name read as written ---------------------

ENCODINGS = {
    "UTF-8": (ITEMS_TEXT.encode(), None),
    "UTF-8 with a BOM": (ITEMS_TEXT.encode("utf-8-sig"), None),
    "UTF-16 LE with a BOM": (ITEMS_TEXT.encode("utf-16"), None),  # Python writes LE
    "UTF-16 BE with a BOM": (b"\xfe\xff" + ITEMS_TEXT.encode("utf-16-be"), None),
    "UTF-32 with a BOM": (ITEMS_TEXT.encode("utf-32"), None),
    "Windows-1252, stated": (ITEMS_TEXT.encode("cp1252"), "cp1252"),
    "Windows-1252 by another of its names": (ITEMS_TEXT.encode("cp1252"), "windows-1252"),
    "UTF-16 LE without a BOM, stated": (ITEMS_TEXT.encode("utf-16-le"), "utf-16-le"),
    "UTF-8 stated, with a BOM": (ITEMS_TEXT.encode("utf-8-sig"), "utf-8"),
    "latin-1 text without the euro sign, stated": (
        ITEMS_TEXT.replace("–", "-").replace("€", "EUR").replace("Œ", "OE").encode("latin-1"),
        "latin-1",
    ),
}


@pytest.mark.parametrize(("data", "stated"), ENCODINGS.values(), ids=list(ENCODINGS))
def test_every_encoding_reads_the_names_as_written(
    tmp_path: Path, data: bytes, stated: str | None
) -> None:
    write_files(tmp_path, {"items.csv": data})
    encodings = {"items": stated} if stated else None
    inputs.locate_all(tmp_path, encodings=encodings)  # no contract error
    rows = read(tmp_path, "items", encodings)
    expected = ["Crème brûlée £3 - café", "OEuf à 2 EUR", "Mug"] if stated == "latin-1" else NAMES
    assert [r["name"] for r in rows] == expected
    assert [r["item_id"] for r in rows] == ["i1", "i2", "i3"]
    assert [r["_source_line"] for r in rows] == [2, 3, 4]
    assert unread(rows) == []


@pytest.mark.parametrize(
    ("encodings", "words"),
    [
        ({"item": "cp1252"}, ["--encoding item=cp1252", "'item' is not a table"]),
        ({"items": "cp-1252x"}, ["--encoding items=cp-1252x", "no encoding 'cp-1252x'"]),
    ],
)
def test_a_stated_encoding_names_a_table_and_a_codec(
    tmp_path: Path, encodings: dict[str, str], words: list[str]
) -> None:
    write_files(tmp_path, {"items.csv": ITEMS_TEXT.encode()})
    with pytest.raises(ContractError) as raised:
        inputs.locate_all(tmp_path, encodings=encodings)
    for word in words:
        assert word in str(raised.value)


# --- Files in another encoding than expected stop the build, in two lines -----------------------


def lines_of(count: int, bad: set[int]) -> bytes:
    """An items file of ``count`` lines (the header and count - 1 rows); the rows on the
    lines in ``bad`` hold a Windows-1252 é."""
    rows = [
        f"i{n},Caf\xe9".encode("cp1252") if n in bad else f"i{n},Cafe".encode()
        for n in range(2, count + 1)
    ]
    return b"\n".join([b"item_id,name", *rows]) + b"\n"


WRONG_ENCODINGS = {
    "a spreadsheet's Windows-1252 file read as UTF-8": (
        ITEMS_TEXT.encode("cp1252"),
        None,
        "items.csv line 2 is not UTF-8 text (byte 0xe8 in 'i1,Cr\\xe8me br\\xfbl\\xe9e "
        "\\xa33 \\x96 caf\\xe9'): 2 of its 4 lines are not",
        "Is it cp1252? Set the encoding of items: recsql build --encoding items=cp1252",
    ),
    "a header that is not UTF-8": (
        "item_id,näme\ni1,x\n".encode("cp1252"),
        None,
        "items.csv line 1, the header, is not UTF-8 text: byte 0xe4 in 'item_id,n\\xe4me'",
        "--encoding items=cp1252",
    ),
    "UTF-16 without a BOM": (
        ITEMS_TEXT.encode("utf-16-le"),
        None,
        "items.csv line 1, the header, is not UTF-8 text: a NUL byte",
        "Is it utf-16-le? Set the encoding of items: recsql build --encoding items=utf-16-le",
    ),
    "2 bad lines of 100: over 1 %": (
        lines_of(100, {50, 70}),
        None,
        "items.csv line 50 is not UTF-8 text (byte 0xe9 in 'i50,Caf\\xe9'): 2 of its 100 lines",
        "--encoding items=cp1252",
    ),
    "a stated encoding that is not the file's": (
        b"item_id,name\ni1,\x81\x8d\n",  # no characters in Windows-1252
        "cp1252",
        "items.csv line 2 is not cp1252 text (byte 0x81 in 'i1,\\x81\\x8d')",
        "Is it latin-1? Set the encoding of items: recsql build --encoding items=latin-1",
    ),
}


@pytest.mark.parametrize(
    ("data", "stated", "first", "second"), WRONG_ENCODINGS.values(), ids=list(WRONG_ENCODINGS)
)
def test_a_file_in_another_encoding_stops_the_build_saying_what_to_set(
    tmp_path: Path, data: bytes, stated: str | None, first: str, second: str
) -> None:
    write_files(tmp_path, {"items.csv": data})
    with pytest.raises(ContractError) as raised:
        inputs.locate_all(tmp_path, encodings={"items": stated} if stated else None)
    message = str(raised.value).splitlines()
    assert len(message) == 2
    assert first in message[0]
    assert second in message[1]


# --- A bad record costs a row: (file, rows read, records set aside) -----------------------------

HEADER = b"customer_id,item_id,occurred_at\n"


def interactions(count: int, faults: dict[int, bytes] | None = None) -> bytes:
    """An interactions file: the header, then ``count`` rows, row n on line n + 1, except the
    lines in ``faults``, written as given."""
    faults = faults or {}
    lines = [faults.get(n + 1, f"c{n},i{n},2025-01-01".encode()) for n in range(1, count + 1)]
    return HEADER + b"\n".join(lines) + b"\n"


# (file bytes, lines of the rows read, the records set aside: reason, line, error, text)
FAULTS = {
    "one invalid byte in 150 rows": (
        interactions(150, {88: b"c87,i\xff87,2025-01-01"}),
        [n for n in range(2, 152) if n != 88],
        [("invalid encoding", 88, "not UTF-8 text: byte 0xff", "c87,i\\xff87,2025-01-01")],
    ),
    "a cut-off UTF-8 character at the end of a line": (
        interactions(120, {5: b"c4,i4,2025-01-01 caf\xc3"}),
        [n for n in range(2, 122) if n != 5],
        [("invalid encoding", 5, "not UTF-8 text: byte 0xc3", "c4,i4,2025-01-01 caf\\xc3")],
    ),
    "a NUL byte": (
        interactions(120, {9: b"c8,i8\x00,2025-01-01"}),
        [n for n in range(2, 122) if n != 9],
        [("invalid encoding", 9, "not UTF-8 text: a NUL byte", "c8,i8\\x00,2025-01-01")],
    ),
    "a quote never closed, at the end of the file": (
        interactions(5, {4: b'c3,"i3,2025-01-01'}),
        [2, 3, 5, 6],
        [
            (
                "malformed csv line",
                4,
                "a quoted field starts on this line and is never closed",
                'c3,"i3,2025-01-01',
            )
        ],
    ),
    "a quote never closed, in a file of quoted values": (
        HEADER
        + b'"c1","i1","2025-01-01"\n'
        + b'"c2","i2,2025-01-01\n'  # line 3: the stray quote
        + b'"c3","i3","2025-01-01"\n'
        + b'"c4","i4","2025-01-01"\n',
        [2, 4, 5],
        [
            (
                "malformed csv line",
                3,
                "a quoted field starts on this line and is never closed",
                '"c2","i2,2025-01-01',
            )
        ],
    ),
    "two quotes never closed": (
        interactions(6, {3: b'c2,"i2,2025-01-01', 6: b'c5,"i5,2025-01-01'}),
        [2, 4, 5, 7],
        [
            (
                "malformed csv line",
                line,
                "a quoted field starts on this line and is never closed",
                f'c{line - 1},"i{line - 1},2025-01-01',
            )
            for line in (3, 6)
        ],
    ),
    "an invalid byte in a value spanning lines: the whole record": (
        HEADER + b'c1,"i\n\xff1",2025-01-01\nc2,i2,2025-01-01\n' + b"c3,i3,2025-01-01\n" * 98,
        [4, *range(5, 103)],
        [("invalid encoding", 2, "not UTF-8 text: byte 0xff", 'c1,"i\n\\xff1",2025-01-01')],
    ),
    "a field too many, after values spanning lines and blank lines": (
        HEADER
        + b'c1,"i\r\n1",2025-01-01\r\n'  # lines 2-3
        + b"\r\n"  # line 4: blank
        + b"c2,i2,2025-01-01,surplus\n"  # line 5
        + b"\n\n"  # lines 6-7: blank
        + b'c3,"i\n\n3",2025-01-01\n'  # lines 8-10
        + b"c4,i4,2025-01-01",  # line 11, no line break
        [2, 8, 11],
        [
            (
                "malformed csv line",
                5,
                "expected 3 fields, found 4",
                "c2,i2,2025-01-01,surplus",
            )
        ],
    ),
    "a backslash and a control character are shown escaped": (
        interactions(200, {7: b"c6,i\\6\x01,2025-01-01,x", 9: b"c8,i8,\xe9"}),
        [n for n in range(2, 202) if n not in (7, 9)],
        [
            ("malformed csv line", 7, "expected 3 fields, found 4", "c6,i\\\\6\\x01,2025-01-01,x"),
            ("invalid encoding", 9, "not UTF-8 text: byte 0xe9", "c8,i8,\\xe9"),
        ],
    ),
    "1 bad line of 100: at most 1 %": (
        interactions(99, {60: b"c59,i59,2025-01-01 \x80"}),
        [n for n in range(2, 101) if n != 60],
        [("invalid encoding", 60, "not UTF-8 text: byte 0x80", "c59,i59,2025-01-01 \\x80")],
    ),
}


@pytest.mark.parametrize(("data", "lines", "set_aside"), FAULTS.values(), ids=list(FAULTS))
@pytest.mark.parametrize("block", [csv_text.BLOCK, 7], ids=["1 MB blocks", "7-byte blocks"])
def test_a_bad_record_costs_one_row_and_says_where_it_is(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    data: bytes,
    lines: list[int],
    set_aside: list[tuple],
    block: int,
) -> None:
    """Read in 7-byte blocks too: line breaks, CRLFs and UTF-8 characters cut in two."""
    monkeypatch.setattr(csv_text, "BLOCK", block)
    write_files(tmp_path, {"interactions.csv": data, "items.csv": b"item_id\ni1\n"})
    inputs.locate_all(tmp_path)  # no contract error
    rows = read(tmp_path, "interactions")
    good = read_rows(rows)
    assert [r["_source_line"] for r in good] == lines
    assert [r["_source_row"] for r in good] == list(range(1, len(lines) + 1))
    assert unread(rows) == set_aside
    assert len(rows) == len(lines) + len(set_aside)  # read = accepted + quarantined
    assert all(r["_source_file"] == "interactions.csv" for r in rows)


def test_the_rows_around_a_stray_quote_keep_their_values(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {"interactions.csv": FAULTS["a quote never closed, in a file of quoted values"][0]},
    )
    rows = read_rows(read(tmp_path, "interactions"))
    assert [(r["customer_id"], r["item_id"]) for r in rows] == [
        ("c1", "i1"),
        ("c3", "i3"),
        ("c4", "i4"),
    ]


def test_a_cp1252_file_with_a_bad_row_quarantines_the_row(tmp_path: Path) -> None:
    """0x81 is no character in Windows-1252: that row is set aside, the others are read."""
    data = ITEMS_TEXT.encode("cp1252") + b"i9,\x81\r\n" + b"i10,Plate\r\n" * 120
    write_files(tmp_path, {"items.csv": data})
    rows = read(tmp_path, "items", {"items": "cp1252"})
    assert [r["name"] for r in read_rows(rows)][:3] == NAMES
    assert unread(rows) == [("invalid encoding", 5, "not cp1252 text: byte 0x81", "i9,\\x81")]


# --- Layouts: compressed files and folders --------------------------------------------------------

DAY_1 = "customer_id,item_id,occurred_at\nc1,i1,2025-05-01\nc2,i2,2025-05-01\n"
DAY_2 = "customer_id,item_id,occurred_at\nc3,i3,2025-05-02\n"
DAY_3 = "Customer_ID;Item_ID;Occurred_At\r\nc4;i4;2025-05-03\r\nc5;i5\r\n"  # ; and CRLF


def parquet(text: str) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(pacsv.read_csv(pa.py_buffer(text.encode())), sink)
    return sink.getvalue().to_pybytes()


# (files, (file, line, customer) of every row read, (file, line) of every record set aside)
LAYOUTS = {
    "gzip": (
        {"interactions.csv.gz": gzip.compress(DAY_1.encode())},
        [("interactions.csv.gz", 2, "c1"), ("interactions.csv.gz", 3, "c2")],
        [],
    ),
    "zstd": (
        {"interactions.csv.zst": zstd(DAY_1.encode())},
        [("interactions.csv.zst", 2, "c1"), ("interactions.csv.zst", 3, "c2")],
        [],
    ),
    "a folder of daily gzip files, read in name order; _ and . names ignored": (
        {
            "interactions/2025-05-02.csv.gz": gzip.compress(DAY_2.encode()),
            "interactions/2025-05-01.csv.gz": gzip.compress(DAY_1.encode()),
            "interactions/2025-05-03.csv.gz": gzip.compress(DAY_3.encode("utf-16")),
            "interactions/_SUCCESS": b"",
            "interactions/.2025-05-01.csv.gz.crc": b"\x00\x01",
            "interactions/_tmp/2025-05-09.csv": b"not read",
        },
        [
            ("interactions/2025-05-01.csv.gz", 2, "c1"),
            ("interactions/2025-05-01.csv.gz", 3, "c2"),
            ("interactions/2025-05-02.csv.gz", 2, "c3"),
            ("interactions/2025-05-03.csv.gz", 2, "c4"),
        ],
        [("interactions/2025-05-03.csv.gz", 3)],
    ),
    "a folder of plain, gzip and zstd CSV files": (
        {
            "interactions/a.csv": DAY_1.encode(),
            "interactions/b.csv.zst": zstd(DAY_2.encode()),
            "interactions/c.csv.gz": gzip.compress(b""),  # empty: no rows
        },
        [
            ("interactions/a.csv", 2, "c1"),
            ("interactions/a.csv", 3, "c2"),
            ("interactions/b.csv.zst", 2, "c3"),
        ],
        [],
    ),
    "partitioned Parquet": (
        {
            "interactions/part-0002.parquet": parquet(DAY_2),
            "interactions/part-0001.parquet": parquet(DAY_1),
        },
        [
            ("interactions/part-0001.parquet", 1, "c1"),
            ("interactions/part-0001.parquet", 2, "c2"),
            ("interactions/part-0002.parquet", 1, "c3"),
        ],
        [],
    ),
    "key=value folders are read as folders, their names not as columns": (
        {
            "interactions/day=2025-05-01/part-0.parquet": parquet(DAY_1),
            "interactions/day=2025-05-02/part-0.parquet": parquet(DAY_2),
        },
        [
            ("interactions/day=2025-05-01/part-0.parquet", 1, "c1"),
            ("interactions/day=2025-05-01/part-0.parquet", 2, "c2"),
            ("interactions/day=2025-05-02/part-0.parquet", 1, "c3"),
        ],
        [],
    ),
}


@pytest.mark.parametrize(("files", "rows", "set_aside"), LAYOUTS.values(), ids=list(LAYOUTS))
@pytest.mark.parametrize("batch_rows", [inputs.BATCH_ROWS, 1], ids=["batches", "row by row"])
def test_every_layout_reads_its_rows_in_order(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    files: dict[str, bytes],
    rows: list[tuple[str, int, str]],
    set_aside: list[tuple[str, int]],
    batch_rows: int,
) -> None:
    """Streamed a row at a time too: the numbering goes on from batch to batch, file to file."""
    monkeypatch.setattr(inputs, "BATCH_ROWS", batch_rows)
    write_files(tmp_path, {**files, "items.csv": b"item_id\ni1\n"})
    inputs.locate_all(tmp_path)
    read_back = read(tmp_path, "interactions")
    good = read_rows(read_back)
    assert [(r["_source_file"], r["_source_line"], r["customer_id"]) for r in good] == rows
    assert [r["_source_row"] for r in good] == list(range(1, len(rows) + 1))
    assert [(r["_source_file"], r["_source_line"]) for r in read_back if r["_load_error"]] == (
        set_aside
    )
    assert len(read_back) == len(rows) + len(set_aside)
    assert {r["tenant_id"] for r in read_back} == {"default"}


def typed_parquet(columns: dict[str, pa.Array]) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table(columns), sink)
    return sink.getvalue().to_pybytes()


TYPED_INTERACTIONS = {
    "Customer_ID": pa.array(["c1", None, "c3", "c1"]),
    "item_id": pa.array(["i1", "i2", "i3", "i1"]),
    "occurred_at": pa.array(
        [1_746_000_000_000_000, None, 1_746_100_000_000_000, 0], pa.timestamp("us")
    ),
    "quantity": pa.array([2, -1, None, 2], pa.int64()),
    "value": pa.array([1.5, None, float("nan"), 1.5]),
    "order_ref": pa.array(["o1", "o2", "o3", "o1"]),  # not a contract column: in the text only
}


@pytest.mark.parametrize(
    "files",
    [
        LAYOUTS["partitioned Parquet"][0],
        LAYOUTS["key=value folders are read as folders, their names not as columns"][0],
        {"interactions.parquet": typed_parquet(TYPED_INTERACTIONS)},
        {
            "interactions/a.parquet": typed_parquet(TYPED_INTERACTIONS),
            "interactions/b.parquet": typed_parquet(TYPED_INTERACTIONS),
        },
        {"customers.parquet": typed_parquet({"customer_id": ["c1"], "points": [3], "tier": ["x"]})},
    ],
    ids=["partitioned", "key=value folders", "typed file", "typed folder", "customers' extras"],
)
def test_parquet_read_natively_gives_the_streamed_rows(
    tmp_path: Path, files: dict[str, bytes]
) -> None:
    """The build's connection reads a table of Parquet files itself (inputs.native_read): the
    same rows, numbers and places as the stream, and the text of each row - written only for
    the rows staging rejects - is the streamed row's text."""
    write_files(tmp_path, {**files, "items.csv": b"item_id\ni1\n"})
    inputs.locate_all(tmp_path)
    table = "customers" if "customers.parquet" in files else "interactions"
    read = inputs.native_read(tmp_path, table)
    assert read is not None
    streamed = inputs.read_table(tmp_path, table)
    con = duckdb.connect()
    native = con.sql(
        f"select * exclude ({inputs.ROW}) replace "
        f"(cast(to_json({inputs.ROW}) as varchar) as {inputs.ROW_JSON}) from ({read.sql}) "
        f"order by {inputs.SOURCE_ROW}"
    ).to_arrow_table()
    assert native.select(streamed.column_names).to_pylist() == streamed.to_pylist()
    assert read.rows == streamed.num_rows


def test_a_build_of_parquet_files_quarantines_their_rows_with_their_text(
    tmp_path: Path, build_inputs
) -> None:
    """Read natively, a Parquet row still has its text where it is rejected, a copy in another
    file is a duplicate (the values decide, the column order of the text as the file has it),
    and the rows read are counted from the files' metadata."""
    data = write_files(
        tmp_path / "in",
        {
            "items.csv": b"item_id\ni1\ni2\ni3\n",
            "tenants.csv": b"tenant_id,min_accepted_share\ndefault,0.2\n",
            "interactions/a.parquet": typed_parquet(TYPED_INTERACTIONS),
            "interactions/b.parquet": typed_parquet(TYPED_INTERACTIONS),
        },
    )
    result = build_inputs(data, tmp_path / "recsql.duckdb")
    counts = {c.source_table: c for c in result.counts}
    assert (counts["interactions"].rows_read, counts["interactions"].rows_accepted) == (8, 2)
    quarantined = query(
        result.db_path,
        "select source_file, source_line, reason, row_json from quarantined_rows "
        "where source_table = 'interactions' order by source_file, source_line",
    )
    assert [q[:3] for q in quarantined] == [
        ("interactions/a.parquet", 2, "empty customer_id"),
        ("interactions/a.parquet", 3, "unparseable value"),
        ("interactions/b.parquet", 1, "duplicate row"),
        ("interactions/b.parquet", 2, "empty customer_id"),
        ("interactions/b.parquet", 3, "unparseable value"),
        ("interactions/b.parquet", 4, "duplicate row"),
    ]
    assert json.loads(quarantined[2][3]) == {
        "customer_id": "c1",
        "item_id": "i1",
        "occurred_at": "2025-04-30 08:00:00",
        "quantity": 2,
        "value": 1.5,
        "order_ref": "o1",
    }


@pytest.mark.parametrize(
    ("files", "table"),
    [
        ({"interactions.csv": HEADER + b"c1,i1,2025-01-01\n"}, "interactions"),
        (
            {
                "customers/1.parquet": parquet("customer_id,points\nc1,1\n"),
                "customers/2.parquet": parquet("customer_id,points\nc2,x\n"),
            },
            "customers",
        ),
        (
            {
                "interactions.parquet": typed_parquet(
                    {**TYPED_INTERACTIONS, "File_Row_Number": [1, 2, 3, 4]}
                )
            },
            "interactions",
        ),
    ],
    ids=["CSV", "extras in several files", "a file_row_number column"],
)
def test_the_tables_parquet_cannot_read_natively_are_streamed(
    tmp_path: Path, files: dict[str, bytes], table: str
) -> None:
    write_files(tmp_path, {"items.csv": b"item_id\ni1\n", **files})
    assert inputs.native_read(tmp_path, table) is None


def test_an_optional_table_without_files_is_read_as_an_empty_select_of_its_streams_shape(
    tmp_path: Path,
) -> None:
    """No stream for a table that has no files (dbt-duckdb would register it on every cursor,
    and the model reading it would run alone: recsql/build/scheduling.py): an empty select
    with the columns and types its stream has, and the ``_row`` the plugin adds to one."""
    write_files(tmp_path, {"items.csv": b"item_id\ni1\n", "interactions.csv": HEADER})
    read = inputs.native_read(tmp_path, "customers")
    assert read is not None and read.rows == 0
    selected = duckdb.sql(read.sql).to_arrow_table()
    streamed = inputs.stream_table(tmp_path, "customers").read_all()
    assert selected.num_rows == streamed.num_rows == 0
    assert selected.schema == streamed.schema.append(pa.field(inputs.ROW, pa.string()))


def test_extra_columns_typed_differently_in_two_files_are_text(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "items.csv": b"",  # replaced by the folder below
            "customers/1.csv": b"customer_id,points,tier\nc1,12,1\n",
            "customers/2.csv": b"customer_id,points,tier\nc2,1.5,gold\n",
        },
    )
    (tmp_path / "items.csv").write_text("item_id\ni1\n")
    customers = inputs.read_table(tmp_path, "customers")
    assert customers.column("points").to_pylist() == [12.0, 1.5]  # numbers in both: a number
    assert customers.column("tier").to_pylist() == ["1", "gold"]


def test_a_file_without_rows_does_not_change_the_types_of_the_others(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "items.csv": b"item_id\ni1\n",
            "customers/1.csv": b"customer_id,points\nc1,12\n",
            "customers/2.csv": b"customer_id,points\n",
            "customers/3.csv": b"customer_id,points\nc3,7\n",
        },
    )
    points = inputs.read_table(tmp_path, "customers").column("points")
    assert points.type == pa.int64() and points.to_pylist() == [12, 7]


# (files on top of items.csv and interactions.csv, words the contract error must contain)
LAYOUT_ERRORS = {
    "a file and a folder": (
        {"interactions.csv": INTERACTIONS.encode(), "interactions/a.csv": DAY_1.encode()},
        ["interactions.csv and", "interactions exist", "keep one file (or one folder)"],
    ),
    "a file and its gzip copy": (
        {
            "interactions.csv": INTERACTIONS.encode(),
            "interactions.csv.gz": gzip.compress(INTERACTIONS.encode()),
        },
        ["interactions.csv and", "interactions.csv.gz exist"],
    ),
    "files with different columns": (
        {
            "customers/a.csv": b"customer_id,country\nc1,DE\n",
            "customers/b.csv": b"customer_id,segment\nc2,gold\n",
        },
        ["customers/a.csv and", "customers/b.csv have different columns", "country only in"],
    ),
    "CSV and Parquet in one folder": (
        {
            "customers/a.csv": b"customer_id\nc1\n",
            "customers/b.parquet": parquet("customer_id\nc2\n"),
        },
        ["holds both CSV (a.csv) and Parquet (b.parquet)"],
    ),
    "a file of another kind in a folder": (
        {"customers/a.csv": b"customer_id\nc1\n", "customers/notes.txt": b"hello"},
        ["customers/notes.txt is not a table file", "names starting with _ or . are ignored"],
    ),
    "an empty folder": ({"customers/_SUCCESS": b""}, ["customers holds no files"]),
    "a tenant_id=... folder whose files have no tenant_id": (
        {"customers/tenant_id=acme/a.csv": b"customer_id\nc1\n"},
        ["a.csv has no tenant_id column", "(tenant_id=acme)", "write the tenant_id column"],
    ),
    "a gzip file cut short": (
        {"customers.csv.gz": gzip.compress(b"customer_id\n" + b"c1\n" * 100_000)[:300]},
        ["customers.csv.gz cannot be read"],
    ),
    "not gzip at all": ({"customers.csv.gz": b"customer_id\nc1\n"}, ["cannot be read"]),
    "a blank first line in a folder's file": (
        {"customers/a.csv": b"\ncustomer_id\nc1\n"},
        ["customers/a.csv starts with a blank line: its first line is the header"],
    ),
}


@pytest.mark.parametrize(("files", "words"), LAYOUT_ERRORS.values(), ids=list(LAYOUT_ERRORS))
def test_layout_errors_name_the_files(
    tmp_path: Path, files: dict[str, bytes], words: list[str]
) -> None:
    write_files(tmp_path, {"items.csv": b"item_id\ni1\n", **files})
    with pytest.raises(ContractError) as raised:
        inputs.locate_all(tmp_path)
    for word in words:
        assert word in str(raised.value)


# --- Reading each file as few times as it takes ------------------------------------------------


def test_a_clean_file_goes_to_arrow_as_it_is_and_is_scanned_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The build checks the directory, the dbt plugin checks it again and reads each table: a
    file whose bytes are all text is decoded once for the checks, then parsed by Arrow, not
    split into records in Python."""
    write_files(
        tmp_path, {"items.csv": ITEMS_TEXT.encode("utf-16"), "interactions.csv": interactions(500)}
    )

    def no_splitting(*args: object) -> None:
        raise AssertionError("a clean file was split in Python")

    monkeypatch.setattr(csv_text, "records", no_splitting)
    before = csv_text._scan.cache_info().misses
    inputs.locate_all(tmp_path, warn=False)
    inputs.locate_all(tmp_path)
    assert len(inputs.read_table(tmp_path, "interactions")) == 500
    assert len(inputs.read_table(tmp_path, "items")) == 3
    assert csv_text._scan.cache_info().misses - before == 2  # one scan per file


# --- The record splitter agrees with Arrow ------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet='ab,"\n\r', max_size=60))
def test_records_are_the_ones_arrow_parses(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    """Wherever the splitter sets nothing aside, Arrow parses the text into exactly its
    records, and each record alone into one record."""
    path = tmp_path_factory.mktemp("split") / "t.csv"
    path.write_bytes(b"a,b\n" + text.encode())
    records = list(csv_text.records(path, "utf-8", ","))
    if any(r.reason for r in records):
        return

    def arrow_records(data: str) -> int:
        if not data.strip("\r\n"):
            return 0
        invalid: list = []
        rows = pacsv.read_csv(
            pa.py_buffer(data.encode()),
            read_options=pacsv.ReadOptions(column_names=["a", "b"], use_threads=False),
            parse_options=pacsv.ParseOptions(
                newlines_in_values=True,
                invalid_row_handler=lambda row: invalid.append(row) or "skip",
            ),
            convert_options=pacsv.ConvertOptions(column_types={"a": pa.string(), "b": pa.string()}),
        )
        return rows.num_rows + len(invalid)

    assert arrow_records("".join(r.text for r in records)) == len(records)
    for record in records:
        assert arrow_records(record.text) == 1


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="a\r\n", max_size=40), st.lists(st.integers(0, 40), max_size=6))
def test_lines_are_counted_in_chunks_as_they_are_split(text: str, cuts: list[int]) -> None:
    """The fast scan counts lines without splitting them: it finds the same lines, and the
    same last line with text, wherever the text is cut into chunks."""
    bounds = sorted({0, len(text), *(min(c, len(text)) for c in cuts)})
    chunks = [text[a:b] for a, b in itertools.pairwise(bounds)]
    counter = csv_text._LineCounter()
    for chunk in chunks:
        counter.add(chunk)
    numbered = list(csv_text.lines(chunks))
    assert counter.lines == len(numbered)
    assert counter.last_text_line == max(
        (n for n, line in numbered if line.strip("\r\n")), default=0
    )


def test_lines_split_only_at_crlf_cr_and_lf() -> None:
    chunks = ["a\r", "\nb\x0cc\u2028d\r", "\re\n", "f"]
    assert list(csv_text.lines(chunks)) == [
        (1, "a\r\n"),
        (2, "b\x0cc\u2028d\r"),
        (3, "\r"),
        (4, "e\n"),
        (5, "f"),
    ]


# --- End to end ------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_build_reads_every_layout_and_quarantines_bad_rows_with_file_and_line(
    tmp_path: Path, build_inputs
) -> None:
    """The issue's files: a spreadsheet's Windows-1252 items.csv (stated), nightly gzip
    exports with a bad byte in one row and a row repeated on the next day; and
    partitioned Parquet customers."""
    data = tmp_path / "in"
    days = {
        1: "".join(f"c{n},i{1 + n % 3},2025-05-01 10:{n % 60:02d}:00\n" for n in range(150)),
        2: "c1,i2,2025-05-01 10:01:00\n" + "c1,i3,2025-05-02\n",  # row 1 repeats day 1's
    }
    day_1 = (HEADER.decode() + days[1]).encode()
    day_1 = day_1.replace(b"c77,i3", b"c77,i\xff3")  # line 79
    write_files(
        data,
        {
            "items.csv": ITEMS_TEXT.encode("cp1252"),
            "interactions/2025-05-01.csv.gz": gzip.compress(day_1),
            "interactions/2025-05-02.csv.gz": gzip.compress((HEADER.decode() + days[2]).encode()),
            "interactions/_SUCCESS": b"",
            "customers/part-0001.parquet": parquet("customer_id,country\nc1,DE\n"),
            "customers/part-0002.parquet": parquet("customer_id,country\nc2,FR\nc2,UK\n"),
        },
    )
    result = build_inputs(data, tmp_path / "recsql.duckdb", encodings={"items": "cp1252"})
    counts = {
        c.source_table: (c.rows_read, c.rows_accepted, c.rows_quarantined) for c in result.counts
    }
    assert counts["interactions"] == (152, 150, 2)
    assert counts["items"] == (3, 3, 0)
    assert counts["customers"] == (3, 2, 1)
    quarantined = query(
        result.db_path,
        "select source_table, reason, source_file, source_line, row_json from quarantined_rows "
        "order by all",
    )
    assert [q[:4] for q in quarantined] == [
        ("customers", "conflicting duplicate key", "customers/part-0002.parquet", 2),
        ("interactions", "duplicate row", "interactions/2025-05-02.csv.gz", 2),
        ("interactions", "invalid encoding", "interactions/2025-05-01.csv.gz", 79),
    ]
    # a row rejected after its duplicates were found keeps its text, read natively or not
    assert json.loads(quarantined[0][4]) == {"customer_id": "c2", "country": "UK"}
    assert json.loads(quarantined[1][4]) == {
        "customer_id": "c1",
        "item_id": "i2",
        "occurred_at": "2025-05-01 10:01:00",
    }
    assert json.loads(quarantined[2][4]) == {
        "line": 79,
        "error": "not UTF-8 text: byte 0xff",
        "text": "c77,i\\xff3,2025-05-01 10:17:00",
    }
    assert query(result.db_path, "select name from items order by item_id") == [
        (name,) for name in NAMES
    ]


def test_the_command_states_encodings_and_explains_a_wrong_one(tmp_path: Path) -> None:
    data = write_files(tmp_path / "in", {"items.csv": ITEMS_TEXT.encode("cp1252")})
    db = tmp_path / "recsql.duckdb"
    result = run_recsql("build", "--data", str(data), "--db", str(db))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) <= 3
    assert "items.csv line 2 is not UTF-8 text" in lines[0]
    assert "recsql build --encoding items=cp1252" in result.stderr
    result = run_recsql("build", "--data", str(data), "--db", str(db), "--encoding", "items")
    assert result.returncode == 2 and "expected TABLE=ENCODING" in result.stderr
    result = run_recsql(
        "build", "--data", str(data), "--encoding", "items=cp1252", "--encoding", "items=latin-1"
    )
    assert result.returncode == 2 and "--encoding items= is given twice" in result.stderr
    assert not db.exists()


def test_dbt_users_state_encodings_as_a_variable(tmp_path: Path) -> None:
    """profiles.yml hands the encodings variable to the plugin as JSON (an end-to-end build
    with encodings goes through it too)."""
    data = write_files(tmp_path / "in", {"items.csv": ITEMS_TEXT.encode("cp1252")})
    plugin = Plugin("recsql", {"data_dir": str(data), "encodings": '{"items": "cp1252"}'})
    items = plugin.load(SimpleNamespace(identifier="items", schema="inputs")).read_all()
    assert items.column("name").to_pylist() == NAMES
