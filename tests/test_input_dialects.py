"""CSV dialects: every RFC 4180 file a user's tools write must read, giving the rows it holds.

Each case is a file's bytes and the exact rows (or values) it must give. The files are what
spreadsheets, Python's csv module and hand edits produce: `,` or `;` separators, quoted or not,
with or without a UTF-8 BOM, CRLF, LF or mixed line endings, quoted fields spanning lines.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from recsql.build import inputs


def read_csv(directory: Path, table: str, data: bytes) -> list[dict]:
    (directory / f"{table}.csv").write_bytes(data)
    return inputs.read_table(directory, table).to_pylist()


def values(rows: list[dict], columns: tuple[str, ...]) -> list[tuple]:
    return [tuple(row[c] for c in columns) for row in rows]


# --- The same interactions written in every combination of the dialect's four choices --------

COLUMNS = ("customer_id", "item_id", "occurred_at", "quantity")
ROWS = [
    ("c1", "i1", "2011-01-01 10:00:00", "2"),
    ("c2", "i2", "2011-01-02 11:00:00", None),  # an empty optional value at the end of a line
    ("c3", "i3", "2011-01-03", "1"),
]
DELIMITERS = {"comma": ",", "semicolon": ";"}
ENDINGS = {"crlf": ["\r\n"], "lf": ["\n"], "mixed": ["\r\n", "\n"]}


def quote(value: str | None, quoting: str) -> str:
    value = value or ""
    if quoting == "quoted" or (quoting == "mixed" and not value.isdigit()):
        return f'"{value}"'  # "mixed": text quoted, numbers not (as LibreOffice writes it)
    return value


def dialect_file(delimiter: str, quoting: str, bom: bool, endings: list[str]) -> bytes:
    lines = [COLUMNS, *ROWS]
    text = "".join(
        delimiter.join(quote(v, quoting) for v in line) + endings[i % len(endings)]
        for i, line in enumerate(lines)
    )
    return ("\ufeff" if bom else "").encode() + text.encode()


DIALECTS = [
    pytest.param(
        dialect_file(delimiter, quoting, bom == "bom", ENDINGS[ending]),
        id=f"{name}-{quoting}-{bom}-{ending}",
    )
    for (name, delimiter), quoting, bom, ending in itertools.product(
        DELIMITERS.items(), ["unquoted", "quoted", "mixed"], ["bom", "no_bom"], ENDINGS
    )
]


@pytest.mark.parametrize("data", DIALECTS)
def test_every_dialect_gives_the_same_rows(tmp_path: Path, data: bytes) -> None:
    rows = read_csv(tmp_path, "interactions", data)
    assert values(rows, COLUMNS) == ROWS
    assert [r["_load_error"] for r in rows] == [None, None, None]
    assert [r["_source_row"] for r in rows] == [1, 2, 3]


# --- Files as particular tools and hands leave them: (table, bytes, columns, rows) -------------

RULES_HEADER = b"tenant_id,rule_id,action,customer_condition,item_condition,value,reason,enabled"
RULE_COLUMNS = ("tenant_id", "rule_id", "action", "item_condition", "value", "reason", "enabled")

FILES = {
    # Python's csv module (and Windows tools) end lines with CRLF; a row added by hand in an
    # editor that writes LF. The sniffer of DuckDB rejected the file ("Error when sniffing").
    "crlf rules file with an appended LF row": (
        "rules",
        RULES_HEADER + b"\r\n"
        b"*,r1,exclude,,category = 'drinks',,no drinks,true\r\n"
        b'*,r2,cap,,,4,"at most 4, per category",true\r\n'
        b'*,r9,boost,,"category = \'garden\'",1.5,"why",true\n',
        RULE_COLUMNS,
        [
            ("*", "r1", "exclude", "category = 'drinks'", None, "no drinks", "true"),
            ("*", "r2", "cap", None, "4", "at most 4, per category", "true"),
            ("*", "r9", "boost", "category = 'garden'", "1.5", "why", "true"),
        ],
    ),
    "crlf interactions file with an appended LF row": (
        "interactions",
        b"customer_id,item_id,occurred_at,quantity\r\n"
        b"c1,i1,2011-01-01 10:00:00,2\r\n"
        b'c2,"i,2",2011-01-02 11:00:00,\r\n'
        b"c3,i3,2011-01-03,1\n",
        COLUMNS,
        [
            ("c1", "i1", "2011-01-01 10:00:00", "2"),
            ("c2", "i,2", "2011-01-02 11:00:00", None),
            ("c3", "i3", "2011-01-03", "1"),
        ],
    ),
    "quoted field spanning lines, LF": (
        "items",
        b'item_id,name\ni1,"Mug\nblue"\ni2,Plate\n',
        ("item_id", "name"),
        [("i1", "Mug\nblue"), ("i2", "Plate")],
    ),
    "quoted field spanning lines, CRLF": (
        "items",
        b'item_id,name\r\ni1,"Mug\r\nblue"\r\ni2,Plate\r\n',
        ("item_id", "name"),
        [("i1", "Mug\r\nblue"), ("i2", "Plate")],
    ),
    "embedded doubled quotes": (
        "items",
        b'item_id,name\ni1,"The ""best"" mug"\ni2,""""\n',
        ("item_id", "name"),
        [("i1", 'The "best" mug'), ("i2", '"')],
    ),
    "the other delimiter inside a value": (
        "items",
        b'item_id;name;category\ni1;Mug, blue;kitchen\ni2;"Plate; white";"a;b"\n',
        ("item_id", "name", "category"),
        [("i1", "Mug, blue", "kitchen"), ("i2", "Plate; white", "a;b")],
    ),
    "no line break after the last row": (
        "items",
        b"item_id,name\r\ni1,Mug\r\ni2,Plate",
        ("item_id", "name"),
        [("i1", "Mug"), ("i2", "Plate")],
    ),
    "blank lines at the end": (
        "items",
        b"item_id,name\r\ni1,Mug\r\n\r\n\r\n",
        ("item_id", "name"),
        [("i1", "Mug")],
    ),
    "old Mac line endings (CR)": (
        "items",
        b"item_id,name\ri1,Mug\ri2,Plate\r",
        ("item_id", "name"),
        [("i1", "Mug"), ("i2", "Plate")],
    ),
    "a header alone, without a line break": ("items", b"item_id,name", ("item_id",), []),
    "a single column": (
        "items",
        b"\xef\xbb\xbfitem_id\r\ni1\r\ni2\n",
        ("item_id", "name"),
        [("i1", None), ("i2", None)],
    ),
    "quoted header, semicolons, empty values at the end of lines": (
        "customers",
        b'"customer_id";"country";"created_at"\r\n"c1";"DE";\r\n"c2";;\n',
        ("customer_id", "country", "created_at"),
        [("c1", "DE", None), ("c2", None, None)],
    ),
    "tab-separated": (
        "items",
        b"item_id\tname\ni1\tMug, blue\n",
        ("item_id", "name"),
        [("i1", "Mug, blue")],
    ),
}


@pytest.mark.parametrize(("table", "data", "columns", "expected"), FILES.values(), ids=list(FILES))
def test_files_as_tools_write_them(
    tmp_path: Path, table: str, data: bytes, columns: tuple[str, ...], expected: list[tuple]
) -> None:
    rows = read_csv(tmp_path, table, data)
    assert values(rows, columns) == expected
    assert all(r["_load_error"] is None for r in rows)


def test_row_json_holds_a_multi_line_value_as_written(tmp_path: Path) -> None:
    [row, _] = read_csv(tmp_path, "items", FILES["quoted field spanning lines, CRLF"][1])
    assert json.loads(row["_row_json"]) == {"item_id": "i1", "name": "Mug\r\nblue"}


def test_a_malformed_line_among_mixed_endings_is_quarantined_with_its_line(
    tmp_path: Path,
) -> None:
    rows = read_csv(
        tmp_path,
        "interactions",
        b"customer_id;item_id;occurred_at\r\n"  # line 1
        b'c1;"i\r\n1";2011-01-01\r\n'  # lines 2-3: one row
        b"c2;i2;2011-01-02;surplus\n"  # line 4: a field too many
        b"c3;i3;2011-01-03\r\n"  # line 5
        b"c2;i2\r\n",  # line 6: a field missing
    )
    good = [r for r in rows if r["_load_error"] is None]
    bad = [r for r in rows if r["_load_error"] is not None]
    assert values(good, ("customer_id", "item_id")) == [("c1", "i\r\n1"), ("c3", "i3")]
    assert [json.loads(r["_row_json"]) for r in bad] == [
        {"line": 4, "error": "expected 3 fields, found 4", "text": "c2;i2;2011-01-02;surplus"},
        {"line": 6, "error": "expected 3 fields, found 2", "text": "c2;i2"},
    ]
    assert [r["_source_line"] for r in rows] == [2, 5, 4, 6]


# --- Decimal commas: read where unambiguous, left as written elsewhere --------------------------

# (file, the interactions' quantity values as read)
DECIMAL_COMMAS = {
    "semicolon file: a decimal comma is a decimal point": (
        "customer_id;item_id;occurred_at;quantity;value\n"
        "c1;i1;2011-01-01;12,50;-3,5\n"
        "c2;i2;2011-01-01;0,125; 7,0 \n",
        [("12.50", "-3.5"), ("0.125", " 7.0 ")],
    ),
    "semicolon file: anything but a plain number is left as written": (
        "customer_id;item_id;occurred_at;quantity;value\n"
        "c1;i1;2011-01-01;1.234,50;12.50\n"
        "c2;i2;2011-01-01;1,2,3;12,\n"
        "c3;i3;2011-01-01;,5;1,5e3\n",
        [("1.234,50", "12.50"), ("1,2,3", "12,"), (",5", "1,5e3")],
    ),
    "comma file: a quoted decimal comma is left as written": (
        'customer_id,item_id,occurred_at,quantity,value\nc1,i1,2011-01-01,"12,50",3\n',
        [("12,50", "3")],
    ),
}


@pytest.mark.parametrize(("text", "expected"), DECIMAL_COMMAS.values(), ids=list(DECIMAL_COMMAS))
def test_decimal_commas(tmp_path: Path, text: str, expected: list[tuple]) -> None:
    rows = read_csv(tmp_path, "interactions", text.encode())
    assert values(rows, ("quantity", "value")) == expected


def test_a_decimal_comma_is_a_field_separator_in_a_comma_file(tmp_path: Path) -> None:
    rows = read_csv(
        tmp_path, "interactions", b"customer_id,item_id,occurred_at,quantity\nc1,i1,2011,12,50\n"
    )
    [row] = rows
    assert row["quantity"] is None and row["_load_error"] == "malformed csv line"
    assert json.loads(row["_row_json"])["line"] == 2


def test_decimal_commas_only_in_number_columns_and_row_json_keeps_them(tmp_path: Path) -> None:
    [item] = read_csv(
        tmp_path,
        "items",
        b"item_id;name;price;min_age;sustainability_score;volume\ni1;2,5;12,50;1,5;0,7;1,5\n",
    )
    assert (item["name"], item["price"], item["min_age"]) == ("2,5", "12.50", "1,5")
    assert item["sustainability_score"] == "0.7"
    assert item["volume"] == "1,5"  # an attribute of the tenant's own: not a contract number
    assert json.loads(item["_row_json"]) == {
        "item_id": "i1",
        "name": "2,5",
        "price": "12,50",
        "min_age": "1,5",
        "sustainability_score": "0,7",
        "volume": "1,5",
    }
