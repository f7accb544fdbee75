"""The file loader: contract errors stop the build with a message naming the file and column;
everything else arrives as raw rows, none lost."""

from __future__ import annotations

import json
import logging
import re
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recsql.build import inputs
from recsql.build.inputs import ContractError
from recsql.contract import TABLES, TABLES_BY_NAME
from tests.conftest import AS_OF, run_recsql

INTERACTIONS_CSV = "customer_id,item_id,occurred_at\nc1,i1,2011-01-01 10:00:00\n"
ITEMS_CSV = "item_id,name\ni1,One\n"


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text)
    return path


@pytest.fixture
def minimal(tmp_path: Path) -> Path:
    write(tmp_path, "interactions.csv", INTERACTIONS_CSV)
    write(tmp_path, "items.csv", ITEMS_CSV)
    return tmp_path


# (files to write on top of / instead of the minimal ones, words the error must contain)
CONTRACT_ERRORS = [
    ({"interactions.csv": None}, ["interactions.parquet", "interactions.csv", "required"]),
    ({"items.csv": None}, ["items.parquet", "required"]),
    (
        {"interactions.csv": "customer_id,item_id\nc1,i1\n"},
        ["interactions.csv", "'occurred_at'"],
    ),
    (
        {"interactions.csv": "customer_id,occurred_at\nc1,2011-01-01\n"},
        ["interactions.csv", "'item_id'"],
    ),
    ({"items.csv": "name\nOne\n"}, ["items.csv", "'item_id'"]),
    ({"customers.csv": "country\nUK\n"}, ["customers.csv", "'customer_id'"]),
    ({"consents.csv": "customer_id,marketing\nc1,true\n"}, ["consents.csv", "'personalization'"]),
    ({"customer_flags.csv": "customer_id\nc1\n"}, ["customer_flags.csv", "'flag'"]),
    ({"erasure_requests.csv": "customer_id\nc1\n"}, ["erasure_requests.csv", "'requested_at'"]),
    ({"rules.csv": "rule_id,action\nr1,exclude\n"}, ["rules.csv", "'reason'"]),
    (
        {"item_restrictions.csv": "country,allowed\nDE,false\n"},
        ["item_restrictions.csv", "item_id", "category"],
    ),
    ({"tenants.csv": "tenant_id,half_life\nt1,7\n"}, ["tenants.csv", "'half_life'"]),
    ({"tenants.csv": "mode\non\n"}, ["tenants.csv", "'tenant_id'"]),
    ({"items.csv": ""}, ["items.csv", "empty"]),
    ({"items.csv": "item_id,Item_ID\ni1,i1\n"}, ["items.csv", "twice"]),
    ({"items.parquet": ITEMS_CSV}, ["items.csv", "items.parquet", "one file"]),
    ({"customers.csv": "customer_id,age\nc1,40\n"}, ["customers.csv", "'age'", "derives"]),
]


@pytest.mark.parametrize(("files", "words"), CONTRACT_ERRORS)
def test_contract_errors_name_the_file_and_the_column(
    minimal: Path, files: dict[str, str | None], words: list[str]
) -> None:
    for name, text in files.items():
        if text is None:
            (minimal / name).unlink()
        elif name.endswith(".parquet"):
            pq.write_table(pa.table({"item_id": ["i1"]}), minimal / name)
        else:
            write(minimal, name, text)
    with pytest.raises(ContractError) as raised:
        inputs.locate_all(minimal)
    for word in words:
        assert word in str(raised.value)


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="does not exist"):
        inputs.locate_all(tmp_path / "nowhere")


def test_a_file_instead_of_the_directory(minimal: Path) -> None:
    with pytest.raises(ContractError) as raised:
        inputs.locate_all(minimal / "interactions.csv")
    message = str(raised.value)
    assert "interactions.csv is a file, not a directory" in message
    assert f"such as {minimal}." in message  # where the files are: what to pass instead


# (bytes of items.csv, words the error must contain): a file in another encoding than the one
# expected stops early, in two lines: its header is not text, or over 1 % of its lines are not.
UNREADABLE_FILES = [
    pytest.param(
        b"item_id,name\ni1,Mug\ni2,Caf\xe9\n",
        [
            "items.csv line 3 is not UTF-8 text (byte 0xe9 in 'i2,Caf\\xe9')",
            "1 of its 3 lines",
            "--encoding items=cp1252",
        ],
        id="latin-1",
    ),
    pytest.param(
        b"item_id,n\xe4me\ni1,Mug\n",
        ["items.csv line 1, the header, is not UTF-8 text", "--encoding items=cp1252"],
        id="latin-1 header",
    ),
]


@pytest.mark.parametrize(("data", "words"), UNREADABLE_FILES)
def test_files_in_another_encoding_stop_the_build(
    minimal: Path, data: bytes, words: list[str]
) -> None:
    (minimal / "items.csv").write_bytes(data)
    with pytest.raises(ContractError) as raised:
        inputs.locate_all(minimal)
    for word in words:
        assert word in str(raised.value)
    assert len(str(raised.value).splitlines()) == 2


def test_absent_optional_tables_are_empty_with_every_contract_column(minimal: Path) -> None:
    specs = inputs.locate_all(minimal)
    for table in TABLES:
        if table.required:
            continue
        raw = inputs.read(specs[table.name])
        assert raw.num_rows == 0
        assert raw.column_names == [*table.column_names, *inputs.BOOKKEEPING_COLUMNS]


def test_rows_arrive_as_text_with_defaults_and_row_numbers(minimal: Path) -> None:
    write(
        minimal,
        "interactions.csv",
        "Customer_ID,item_id,occurred_at,quantity\n"
        "c1,i1,2011-01-01 10:00:00,2\n"
        "c2,i1,not a date,x\n",
    )
    raw = inputs.read_table(minimal, "interactions")
    assert raw.column_names == [
        *TABLES_BY_NAME["interactions"].column_names,
        *inputs.BOOKKEEPING_COLUMNS,
    ]
    rows = raw.to_pylist()
    assert [r["tenant_id"] for r in rows] == ["default", "default"]  # no tenant_id column
    assert [r["customer_id"] for r in rows] == ["c1", "c2"]  # header matched case-insensitively
    assert [r["occurred_at"] for r in rows] == ["2011-01-01 10:00:00", "not a date"]
    assert [r["event_type"] for r in rows] == [None, None]  # optional, absent: NULL
    assert [r["_source_row"] for r in rows] == [1, 2]
    # The JSON holds the values as the file held them (names in lower case, no added defaults).
    assert json.loads(rows[1]["_row_json"]) == {
        "customer_id": "c2",
        "item_id": "i1",
        "occurred_at": "not a date",
        "quantity": "x",
    }


def test_typed_parquet_columns_arrive_as_text(minimal: Path) -> None:
    (minimal / "interactions.csv").unlink()
    pq.write_table(
        pa.table(
            {
                "tenant_id": ["t1"],
                "customer_id": ["c1"],
                "item_id": ["i1"],
                "occurred_at": pa.array([datetime(2011, 1, 2, 3, 4, 5)], pa.timestamp("us")),
                "quantity": pa.array([2.5], pa.float64()),
            }
        ),
        minimal / "interactions.parquet",
    )
    [row] = inputs.read_table(minimal, "interactions").to_pylist()
    assert row["tenant_id"] == "t1"
    assert row["occurred_at"] == "2011-01-02 03:04:05"
    assert row["quantity"] == "2.5"


def test_unparseable_csv_lines_become_rows_with_the_error(minimal: Path) -> None:
    write(
        minimal,
        "interactions.csv",
        "customer_id,item_id,occurred_at\n"
        "c1,i1,2011-01-01\n"
        "c2,i2\n"
        "c3,i3,2011-01-02,extra\n"
        "c4,i4,2011-01-03\n",
    )
    rows = inputs.read_table(minimal, "interactions").to_pylist()
    assert len(rows) == 4  # nothing lost
    good = [r for r in rows if r["_load_error"] is None]
    bad = [r for r in rows if r["_load_error"] is not None]
    assert [r["customer_id"] for r in good] == ["c1", "c4"]
    assert [json.loads(r["_row_json"]) for r in bad] == [
        {"line": 3, "error": "expected 3 fields, found 2", "text": "c2,i2"},
        {"line": 4, "error": "expected 3 fields, found 4", "text": "c3,i3,2011-01-02,extra"},
    ]
    assert [r["_load_error"] for r in bad] == ["malformed csv line"] * 2
    assert [(r["_source_file"], r["_source_line"]) for r in rows] == [
        ("interactions.csv", 2),
        ("interactions.csv", 5),
        ("interactions.csv", 3),
        ("interactions.csv", 4),
    ]
    assert all(r["tenant_id"] == "default" for r in bad)


def test_extra_columns_are_attributes_for_customers_and_ignored_elsewhere(
    minimal: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(minimal, "customers.csv", "customer_id,loyalty_points,segment\nc1,120,gold\nc2,7,\n")
    write(
        minimal,
        "interactions.csv",
        "customer_id,item_id,occurred_at,channel\nc1,i1,2011-01-01,web\n",
    )
    with caplog.at_level(logging.WARNING):
        specs = inputs.locate_all(minimal)
    assert "channel" in caplog.text and "customers" not in caplog.text
    customers = inputs.read(specs["customers"])
    assert customers.column("loyalty_points").to_pylist() == [120, 7]  # typed, not text
    assert customers.column("segment").to_pylist() == ["gold", None]
    assert "channel" not in inputs.read(specs["interactions"]).column_names


# (an extra customers column's values in a CSV file, the values it must arrive as)
ATTRIBUTE_TYPES = [
    (["120", "-7"], [120, -7]),
    (["1.5", "2"], [1.5, 2.0]),
    (["true", "False"], [True, False]),
    (["2024-01-01", "2024-02-01"], [date(2024, 1, 1), date(2024, 2, 1)]),
    (
        ["2024-01-01 10:00:00", "2024-01-02T11:30:00"],
        [datetime(2024, 1, 1, 10), datetime(2024, 1, 2, 11, 30)],
    ),
    (["1", "abc"], ["1", "abc"]),  # one value that is no number: text
    (["yes", "no"], ["yes", "no"]),
    (["12,5", "1"], ["12,5", "1"]),
    (["", ""], [None, None]),
]


@pytest.mark.parametrize(("written", "expected"), ATTRIBUTE_TYPES)
def test_attribute_columns_are_typed_by_all_their_values(
    minimal: Path, written: list[str], expected: list
) -> None:
    lines = "".join(f"c{i};{value}\n" for i, value in enumerate(written))
    write(minimal, "customers.csv", f"customer_id;points\n{lines}")
    points = inputs.read_table(minimal, "customers").column("points")
    assert points.to_pylist() == expected
    if expected[0] is None:
        assert points.type == pa.string()  # not Arrow's null type: rules compare it to text


def test_unknown_files_are_reported(minimal: Path, caplog: pytest.LogCaptureFixture) -> None:
    write(minimal, "interaction.csv", INTERACTIONS_CSV)  # a typo
    with caplog.at_level(logging.WARNING):
        inputs.locate_all(minimal)
    assert "interaction.csv" in caplog.text


@pytest.mark.slow
def test_a_spreadsheet_export_builds_and_each_warning_prints_once(tmp_path: Path) -> None:
    """A ';' export with decimal commas, CRLF lines and a row appended with LF, an ignorable
    column and a stray file: every row is accepted and each warning is printed once (the
    build checks the directory twice: before dbt and in the dbt plugin)."""
    data = tmp_path / "in"
    data.mkdir()
    (data / "interactions.csv").write_bytes(
        b"customer_id;item_id;occurred_at;value;channel\r\n"
        b"c1;i1;2025-01-01;12,50;web\r\n"
        b"c2;i2;2025-01-02;3,5;shop\r\n"
        b"c2;i1;2025-01-03;1;web\n"
    )
    (data / "items.csv").write_bytes(
        b"item_id;name;category\r\ni1;Mug;kitchen\r\ni2;Spade;garden\r\n"
    )
    (data / "rules.csv").write_bytes(
        b"tenant_id,rule_id,action,customer_condition,item_condition,value,reason,enabled\r\n"
        b"*,r1,exclude,,category = 'drinks',,no drinks,true\r\n"
        b'*,r9,boost,,"category = \'garden\'",1.5,"why",true\n'
    )
    (data / "notes.csv").write_text("a note\n")
    db = tmp_path / "recsql.duckdb"
    result = run_recsql("build", "--data", str(data), "--db", str(db), "--as-of", AS_OF)
    assert result.returncode == 0, result.stderr
    counts = dict(re.findall(r"^  (\w+) +([\d,]+ +[\d,]+ +[\d,]+)$", result.stdout, re.M))
    assert counts["interactions"].split() == ["3", "3", "0"]  # read, accepted, quarantined
    assert counts["rules"].split() == ["2", "2", "0"]
    assert result.stderr.count("Ignoring column(s) channel") == 1
    assert result.stderr.count("notes.csv: not a table of the contract") == 1
