"""The UCI Online Retail converter: a hand-written fixture with known answers, the facts of
the real file, and the shipped demo data (which must equal a fresh conversion)."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recsql.datasets.online_retail import (
    CATEGORY_RULES,
    DEFAULT_OUT_DIR,
    DEFAULT_SOURCE,
    NON_PRODUCT_CODES,
    ConversionReport,
    convert,
)

TABLES = ("interactions", "items", "customers")

UK = "United Kingdom"


def _at(day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(2010, 12, day, hour, minute)


# InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice, CustomerID, Country
FIXTURE_ROWS = [
    # a normal invoice: two products and a postage line
    ("500001", "85123A", "WHITE HANGING HEART T-LIGHT HOLDER", 6, _at(1, 8, 26), 2.55, 17850, UK),
    ("500001", "71053", "WHITE METAL LANTERN", 6, _at(1, 8, 26), 3.39, 17850, UK),
    ("500001", "POST", "POSTAGE", 1, _at(1, 8, 26), 18.0, 17850, UK),
    # a cancellation invoice
    ("C500002", "85123A", "WHITE HANGING HEART T-LIGHT HOLDER", -2, _at(2), 2.55, 17850, UK),
    # a guest line, on the lower-case twin of a code, with a second description
    ("500003", "85123a", "CREAM HANGING HEART T-LIGHT HOLDER", 1, _at(3), 2.95, None, UK),
    # negative adjustments without 'C' (stock notes at price 0, guest)
    ("500004", "71053", "damaged", -10, _at(4), 0.0, None, UK),
    ("500005", "71053", "damaged", -3, _at(5), 0.0, None, UK),
    # customer 12347: bank charges, a zero quantity, three lines in Iceland, two in Portugal
    ("500006", "BANK CHARGES", "Bank Charges", 1, _at(6), 15.0, 12347, "Iceland"),
    ("500007", "22423", "REGENCY CAKESTAND 3 TIER", 0, _at(7), 12.75, 12347, "Iceland"),
    ("500008", "22423", "REGENCY CAKESTAND 3 TIER", 2, _at(8), 12.75, 12347, "Iceland"),
    ("500009", "22423", "REGENCY CAKESTAND 3 TIER", 1, _at(9), 10.95, 12347, "Portugal"),
    ("500009", "84879", "ASSORTED COLOUR BIRD ORNAMENT", 8, _at(9), 1.69, 12347, "Portugal"),
    # customer 12348: one line in Finland, one in Denmark (a tie)
    ("500010", "84879", "ASSORTED COLOUR BIRD ORNAMENT", 4, _at(10), 1.69, 12348, "Finland"),
    ("500011", "21080", "SET/20 RED RETROSPOT PAPER NAPKINS ", 12, _at(11), 0.85, 12348, "Denmark"),
    # a discount on a cancellation invoice
    ("C500012", "D", "Discount", -1, _at(12), 5.0, 17850, UK),
    # a gift voucher and a lower-case manual line (guests)
    ("500013", "gift_0001_20", "Dotcomgiftshop Gift Voucher £20.00", 1, _at(13), 16.67, None, UK),
    ("500014", "m", "Manual", 1, _at(14), 2.55, None, UK),
    # customer 12349 of unknown country
    ("500015", "84879", "ASSORTED COLOUR BIRD ORNAMENT", 1, _at(15), 1.69, 12349, "Unspecified"),
    # an item only ever seen in a stock movement (a guest line at price 0): no item
    ("500016", "90000", None, 5, _at(16), 0.0, None, UK),
    # an item a customer got at price 0, never sold at a price: inactive
    ("500017", "90001", "SAMPLE CUSHION", 1, _at(17), 0.0, 12349, "Unspecified"),
]

EXPECTED_INTERACTIONS = [
    # customer_id, item_id, occurred_at, event_type, quantity, value, session_id
    ("17850", "71053", _at(1, 8, 26), "purchase", 6, 20.34, "500001"),
    ("17850", "85123A", _at(1, 8, 26), "purchase", 6, 15.3, "500001"),
    ("17850", "85123A", _at(2), "return", 2, 5.1, "C500002"),
    (None, "85123A", _at(3), "purchase", 1, 2.95, "500003"),
    ("12347", "22423", _at(8), "purchase", 2, 25.5, "500008"),
    ("12347", "22423", _at(9), "purchase", 1, 10.95, "500009"),
    ("12347", "84879", _at(9), "purchase", 8, 13.52, "500009"),
    ("12348", "84879", _at(10), "purchase", 4, 6.76, "500010"),
    ("12348", "21080", _at(11), "purchase", 12, 10.2, "500011"),
    ("12349", "84879", _at(15), "purchase", 1, 1.69, "500015"),
    ("12349", "90001", _at(17), "purchase", 1, 0.0, "500017"),
]

EXPECTED_ITEMS = [
    # item_id, name, category, price, is_active
    ("21080", "SET/20 RED RETROSPOT PAPER NAPKINS", "kitchen & dining", 0.85, True),
    ("22423", "REGENCY CAKESTAND 3 TIER", "kitchen & dining", 11.85, True),
    ("71053", "WHITE METAL LANTERN", "candles & lights", 3.39, True),
    ("84879", "ASSORTED COLOUR BIRD ORNAMENT", "home decor", 1.69, True),
    # WHITE on two lines beats CREAM on one; the median of 2.55, 2.55, 2.95
    ("85123A", "WHITE HANGING HEART T-LIGHT HOLDER", "candles & lights", 2.55, True),
    ("90001", "SAMPLE CUSHION", "home decor", None, False),
]

EXPECTED_CUSTOMERS = [
    ("12347", "Iceland"),
    ("12348", "Denmark"),
    ("12349", None),
    ("17850", UK),
]


def _rows(path: Path) -> list[tuple]:
    table = pq.read_table(path)
    return [tuple(row.values()) for row in table.to_pylist()]


@pytest.fixture(scope="module")
def raw_schema() -> pa.Schema:
    return pq.read_schema(DEFAULT_SOURCE)


def _write_raw(rows: list[tuple], schema: pa.Schema, path: Path) -> Path:
    """Write ``rows`` with the real file's column types (every column nullable, so that a
    test can write a line the real file could not hold)."""
    schema = pa.schema([field.with_nullable(True) for field in schema])
    columns = list(zip(*rows, strict=True))
    table = pa.table(
        {
            field.name: pa.array(values, field.type)
            for field, values in zip(schema, columns, strict=True)
        },
        schema=schema,
    )
    pq.write_table(table, path)
    return path


@pytest.fixture
def fixture_source(tmp_path: Path, raw_schema: pa.Schema) -> Path:
    return _write_raw(FIXTURE_ROWS, raw_schema, tmp_path / "raw.parquet")


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> tuple[ConversionReport, Path]:
    out_dir = tmp_path_factory.mktemp("demo")
    return convert(DEFAULT_SOURCE, out_dir), out_dir


@pytest.fixture(scope="module")
def con(real: tuple[ConversionReport, Path]) -> duckdb.DuckDBPyConnection:
    """The raw file as ``raw`` and the converted tables under their names."""
    _, out_dir = real
    con = duckdb.connect()
    con.execute("create table raw as select * from read_parquet(?)", [str(DEFAULT_SOURCE)])
    for table in TABLES:
        con.execute(
            f"create table {table} as select * from read_parquet(?)",
            [str(out_dir / f"{table}.parquet")],
        )
    return con


# -- the hand-written fixture ---------------------------------------------------------------


def test_fixture_converts_to_the_expected_rows(fixture_source: Path, tmp_path: Path) -> None:
    report = convert(fixture_source, tmp_path / "out")

    assert _rows(tmp_path / "out" / "interactions.parquet") == EXPECTED_INTERACTIONS
    assert _rows(tmp_path / "out" / "items.parquet") == EXPECTED_ITEMS
    assert _rows(tmp_path / "out" / "customers.parquet") == EXPECTED_CUSTOMERS
    assert report == ConversionReport(
        rows_read=20,
        purchases=10,
        returns=1,
        guest_rows=1,
        non_product_rows={"BANK CHARGES": 1, "D": 1, "POST": 1, "gift_0001_20": 1, "m": 1},
        zero_quantity_rows=1,
        stock_movement_rows=3,
        items=6,
        customers=4,
    )
    assert "20 source lines read" in report.summary()


@pytest.mark.parametrize(
    ("customer_type", "as_decimal"),
    [(pa.float64(), float), (pa.string(), lambda number: f"{number}.0")],
    ids=["double", "text"],
)
def test_a_customer_id_read_as_a_decimal_number_has_no_fraction(
    raw_schema: pa.Schema, tmp_path: Path, customer_type: pa.DataType, as_decimal
) -> None:
    index = raw_schema.get_field_index("CustomerID")
    schema = raw_schema.set(index, pa.field("CustomerID", customer_type))
    rows = [
        (*row[:6], None if row[6] is None else as_decimal(row[6]), row[7]) for row in FIXTURE_ROWS
    ]
    convert(_write_raw(rows, schema, tmp_path / "raw.parquet"), tmp_path / "out")
    assert _rows(tmp_path / "out" / "customers.parquet") == EXPECTED_CUSTOMERS


def test_output_types(fixture_source: Path, tmp_path: Path) -> None:
    convert(fixture_source, tmp_path)
    schemas = {t: pq.read_schema(tmp_path / f"{t}.parquet") for t in TABLES}
    assert schemas["interactions"].names == [
        "customer_id",
        "item_id",
        "occurred_at",
        "event_type",
        "quantity",
        "value",
        "session_id",
    ]
    assert schemas["interactions"].field("occurred_at").type == pa.timestamp("us")
    assert schemas["interactions"].field("quantity").type == pa.int32()
    assert schemas["interactions"].field("value").type == pa.float64()
    assert schemas["items"].names == ["item_id", "name", "category", "price", "is_active"]
    assert schemas["customers"].names == ["customer_id", "country"]
    assert "tenant_id" not in {n for s in schemas.values() for n in s.names}
    assert all(
        pq.ParquetFile(tmp_path / f"{t}.parquet").metadata.row_group(0).column(0).compression
        == "ZSTD"
        for t in TABLES
    )


def test_same_bytes_every_run(fixture_source: Path, tmp_path: Path) -> None:
    convert(fixture_source, tmp_path / "a")
    convert(fixture_source, tmp_path / "b")
    for table in TABLES:
        first = (tmp_path / "a" / f"{table}.parquet").read_bytes()
        assert first == (tmp_path / "b" / f"{table}.parquet").read_bytes(), table


def test_row_order_of_the_source_does_not_matter(raw_schema: pa.Schema, tmp_path: Path) -> None:
    forward = _write_raw(FIXTURE_ROWS, raw_schema, tmp_path / "forward.parquet")
    backward = _write_raw(FIXTURE_ROWS[::-1], raw_schema, tmp_path / "backward.parquet")
    convert(forward, tmp_path / "a")
    convert(backward, tmp_path / "b")
    for table in TABLES:
        first = (tmp_path / "a" / f"{table}.parquet").read_bytes()
        assert first == (tmp_path / "b" / f"{table}.parquet").read_bytes(), table


def test_a_file_that_is_not_the_uci_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.parquet"
    pq.write_table(pa.table({"InvoiceNo": ["1"], "StockCode": ["85123A"]}), path)
    with pytest.raises(ValueError, match="Quantity"):
        convert(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_line_without_a_stock_code_is_refused(raw_schema: pa.Schema, tmp_path: Path) -> None:
    rows = [*FIXTURE_ROWS, ("500099", None, "X", 1, _at(20), 1.0, 17850, UK)]
    source = _write_raw(rows, raw_schema, tmp_path / "raw.parquet")
    with pytest.raises(ValueError, match="StockCode"):
        convert(source, tmp_path / "out")


def test_a_report_that_does_not_add_up_cannot_be_made() -> None:
    with pytest.raises(ValueError, match="accounted"):
        ConversionReport(
            rows_read=10,
            purchases=5,
            returns=1,
            guest_rows=0,
            non_product_rows={"POST": 1},
            zero_quantity_rows=0,
            stock_movement_rows=2,
            items=1,
            customers=1,
        )


def test_category_keywords_are_words_a_name_can_hold() -> None:
    # names are upper-cased and split on anything but letters, digits, '&' and '-'
    word = "[A-Z0-9&-]+"
    for category, keywords in CATEGORY_RULES:
        assert category == category.strip().lower()
        for keyword in keywords:
            assert re.fullmatch(f"{word}( {word})*", keyword), keyword


# -- the real file ---------------------------------------------------------------------------


def test_report_on_the_real_file(real: tuple[ConversionReport, Path]) -> None:
    report, _ = real
    assert report.rows_read == 541_909
    assert report.rows_read == (
        report.purchases
        + report.returns
        + sum(report.non_product_rows.values())
        + report.zero_quantity_rows
        + report.stock_movement_rows
    )
    assert report.zero_quantity_rows == 0
    assert report.customers == 4_372
    assert report == ConversionReport(
        rows_read=541_909,
        purchases=527_694,
        returns=8_701,
        guest_rows=131_585,
        non_product_rows=report.non_product_rows,
        zero_quantity_rows=0,
        stock_movement_rows=2_461,
        items=3_808,
        customers=4_372,
    )
    assert sum(report.non_product_rows.values()) == 3_053


def test_non_product_lines_match_the_documented_codes(
    real: tuple[ConversionReport, Path], con: duckdb.DuckDBPyConnection
) -> None:
    report, _ = real
    codes = list(NON_PRODUCT_CODES)
    expected = dict(
        con.execute(
            "select StockCode, count(*) from raw "
            "where list_contains(?, upper(trim(StockCode))) or StockCode ilike 'gift\\_0001\\_%' "
            "escape '\\' group by StockCode order by StockCode",
            [codes],
        ).fetchall()
    )
    assert report.non_product_rows == expected
    # every code outside "5 digits + letters" is either documented or a DCGS web-shop article
    odd = {
        code
        for (code,) in con.execute(
            "select distinct StockCode from raw "
            "where not regexp_full_match(StockCode, '[0-9]{5}[A-Za-z]*')"
        ).fetchall()
    }
    assert {c for c in odd if not c.startswith("DCGS")} == {c for c in expected if not c.isdigit()}


def test_purchases_by_customers_match_the_raw_file(con: duckdb.DuckDBPyConnection) -> None:
    # the known fact about the raw file
    (raw_purchases,) = con.execute(
        "select count(*) from raw "
        "where CustomerID is not null and Quantity > 0 and InvoiceNo not like 'C%'"
    ).fetchone()
    assert raw_purchases == 397_924
    # minus the non-product lines among them, counted independently of the converter
    (non_product,) = con.execute(
        "select count(*) from raw "
        "where CustomerID is not null and Quantity > 0 and InvoiceNo not like 'C%' "
        "and (list_contains(?, upper(trim(StockCode))) or StockCode ilike 'gift%')",
        [list(NON_PRODUCT_CODES)],
    ).fetchone()
    (converted,) = con.execute(
        "select count(*) from interactions "
        "where customer_id is not null and event_type = 'purchase'"
    ).fetchone()
    assert converted == raw_purchases - non_product == 396_274


def test_returns_and_guests_match_the_raw_file(
    real: tuple[ConversionReport, Path], con: duckdb.DuckDBPyConnection
) -> None:
    report, _ = real
    product = (
        "not (list_contains(?, upper(trim(StockCode))) or StockCode ilike 'gift%') "
        "and Quantity <> 0 and not (CustomerID is null and UnitPrice <= 0)"
    )
    codes = [list(NON_PRODUCT_CODES)]
    (returns,) = con.execute(
        f"select count(*) from raw where {product} and (InvoiceNo like 'C%' or Quantity < 0)",
        codes,
    ).fetchone()
    (guests,) = con.execute(
        f"select count(*) from raw where {product} and CustomerID is null", codes
    ).fetchone()
    assert (report.returns, report.guest_rows) == (returns, guests)


def test_real_output_is_consistent(con: duckdb.DuckDBPyConnection) -> None:
    # every interaction's item is in items, and items holds nothing else
    (missing_items,) = con.execute(
        "select count(*) from interactions anti join items using (item_id)"
    ).fetchone()
    (unused_items,) = con.execute(
        "select count(*) from items anti join interactions using (item_id)"
    ).fetchone()
    (missing_customers,) = con.execute(
        "select count(*) from interactions anti join customers using (customer_id) "
        "where interactions.customer_id is not null"
    ).fetchone()
    assert (missing_items, unused_items, missing_customers) == (0, 0, 0)
    # ids are unique, quantities positive, event types from the contract
    assert con.execute("select count(*) = count(distinct item_id) from items").fetchone() == (True,)
    assert con.execute(
        "select count(*) = count(distinct customer_id) from customers"
    ).fetchone() == (True,)
    assert con.execute(
        "select min(quantity) > 0, bool_and(event_type in ('purchase', 'return')), "
        "bool_and(customer_id is null or customer_id = ltrim(customer_id, '0') "
        "and not contains(customer_id, '.')) from interactions"
    ).fetchone() == (True, True, True)
    # pairs a recommender learns from: customer-item purchases
    assert con.execute(
        "select count(distinct customer_id), count(distinct item_id), "
        "count(distinct (customer_id, item_id)) from interactions "
        "where customer_id is not null and event_type = 'purchase'"
    ).fetchone() == (4_335, 3_656, 266_151)


def test_categories_are_sensible(con: duckdb.DuckDBPyConnection) -> None:
    shares = dict(
        con.execute(
            "select category, count(*) / sum(count(*)) over () from items group by category"
        ).fetchall()
    )
    assert set(shares) == {c for c, _ in CATEGORY_RULES} | {"other"}
    assert shares["other"] < 0.10
    assert max(shares.values()) < 0.25


# -- the shipped demo data -------------------------------------------------------------------


@pytest.mark.parametrize("table", TABLES)
def test_shipped_demo_equals_a_fresh_conversion(
    real: tuple[ConversionReport, Path], table: str
) -> None:
    _, out_dir = real
    shipped = pq.read_table(DEFAULT_OUT_DIR / f"{table}.parquet")
    fresh = pq.read_table(out_dir / f"{table}.parquet")
    assert shipped.schema == fresh.schema
    assert shipped.equals(fresh), (
        f"data/demo/{table}.parquet is stale: regenerate it with "
        "python -c 'from recsql.datasets.online_retail import convert; convert()'"
    )
