"""Tests of the synthetic data generator (recsql.datasets.generator).

The bad-row checks re-classify every written row with SQL written here, independently of the
generator's code, and compare the counts with what the generator reports it planted.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from recsql import contract
from recsql.datasets.generator import GenerationReport, generate

END = date(2025, 12, 31)
SMALL = {"tenants": 3, "customers": 200, "items": 80, "interactions": 3000}
INPUT_TABLES = (
    "tenants",
    "items",
    "customers",
    "interactions",
    "customer_flags",
    "item_restrictions",
    "consents",
    "erasure_requests",
)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> GenerationReport:
    return generate(tmp_path_factory.mktemp("clean"), seed=11, **SMALL)


@pytest.fixture(scope="module")
def dirty(tmp_path_factory: pytest.TempPathFactory) -> GenerationReport:
    """Same seed and sizes as ``clean``, with bad rows."""
    return generate(tmp_path_factory.mktemp("dirty"), seed=11, bad_share=0.08, **SMALL)


@pytest.fixture(scope="module")
def dirty_csv(tmp_path_factory: pytest.TempPathFactory) -> GenerationReport:
    return generate(
        tmp_path_factory.mktemp("dirty_csv"), seed=12, bad_share=0.05, fmt="csv", **SMALL
    )


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> GenerationReport:
    return generate(
        tmp_path_factory.mktemp("single"),
        customers=150,
        items=60,
        interactions=2000,
        seed=5,
        bad_share=0.1,
        tenant_id_column=False,
    )


@pytest.fixture(scope="module")
def structured(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    """A larger clean data set over one calendar year, loaded as typed views."""
    out = tmp_path_factory.mktemp("structured")
    generate(out, tenants=4, customers=400, items=150, interactions=8000, seed=7)
    con = duckdb.connect()
    for name in (*INPUT_TABLES, "_planted_customers"):
        con.execute(
            f"create view {name.strip('_')} as select * from read_parquet('{out / name}.parquet')"
        )
    return con


def load(report: GenerationReport) -> duckdb.DuckDBPyConnection:
    """Every written input table as a view of text columns, with tenant_id ('default' if absent)."""
    con = duckdb.connect()
    fmt = report.parameters["fmt"]
    for name in INPUT_TABLES:
        path = report.out_dir / f"{name}.{fmt}"
        if not path.exists():
            continue
        reader = (
            f"read_parquet('{path}')"
            if fmt == "parquet"
            else f"read_csv('{path}', all_varchar = true, header = true)"
        )
        columns = con.execute(f"select * from {reader} limit 0").description
        tenant = "" if "tenant_id" in [c[0] for c in columns] else "'default' as tenant_id, "
        con.execute(f"create view {name} as select {tenant}columns(*)::varchar from {reader}")
    if not (report.out_dir / f"tenants.{fmt}").exists():
        con.execute("create view tenants as select 'default' as tenant_id")
    return con


# --------------------------------------------------------------------------- independent checks

KNOWN_TENANT = "tenant_id in (select tenant_id from tenants)"
DUPLICATE = "row_number() over (partition by {columns}) > 1"

#: (reason, condition) in the order a row is judged; the first true condition is its reason.
INTERACTION_CHECKS = (
    ("empty tenant_id", "coalesce(tenant_id, '') = ''"),
    ("unknown tenant", f"coalesce(tenant_id, '') <> '' and not {KNOWN_TENANT}"),
    ("empty customer_id", "coalesce(customer_id, '') = '' and coalesce(session_id, '') = ''"),
    ("empty item_id", "coalesce(item_id, '') = ''"),
    ("unparseable occurred_at", "try_cast(occurred_at as timestamp) is null"),
    (
        "occurred_at in the future",
        f"coalesce(try_cast(occurred_at as timestamp) >= date '{END + timedelta(days=1)}', false)",
    ),
    (
        "unknown event_type",
        f"lower(coalesce(event_type, 'purchase')) not in {tuple(contract.EVENT_TYPES)}",
    ),
    ("unparseable quantity", "quantity is not null and try_cast(quantity as double) is null"),
    ("non-positive quantity", "coalesce(try_cast(quantity as double) <= 0, false)"),
    (
        "item not in items",
        f"{KNOWN_TENANT} and coalesce(item_id, '') <> '' and not exists (select 1 from "
        "valid_items v where v.tenant_id = r.tenant_id and v.item_id = r.item_id)",
    ),
    ("duplicate row", DUPLICATE),
)
ITEM_CHECKS = (
    ("empty tenant_id", "coalesce(tenant_id, '') = ''"),
    ("unknown tenant", f"coalesce(tenant_id, '') <> '' and not {KNOWN_TENANT}"),
    ("empty item_id", "coalesce(item_id, '') = ''"),
    ("unparseable price", "price is not null and try_cast(price as double) is null"),
    ("negative price", "coalesce(try_cast(price as double) < 0, false)"),
    ("unparseable is_active", "is_active is not null and try_cast(is_active as boolean) is null"),
    ("unparseable min_age", "min_age is not null and try_cast(min_age as integer) is null"),
    (
        "sustainability_score outside 0..1",
        "not coalesce(try_cast(sustainability_score as double) between 0 and 1, false)",
    ),
    (
        "unparseable launched_at",
        "launched_at is not null and try_cast(launched_at as timestamp) is null",
    ),
    ("duplicate row", DUPLICATE),
)
CUSTOMER_CHECKS = (
    ("empty tenant_id", "coalesce(tenant_id, '') = ''"),
    ("unknown tenant", f"coalesce(tenant_id, '') <> '' and not {KNOWN_TENANT}"),
    ("empty customer_id", "coalesce(customer_id, '') = ''"),
    ("unparseable birth_date", "birth_date is not null and try_cast(birth_date as date) is null"),
    (
        "unparseable created_at",
        "created_at is not null and try_cast(created_at as timestamp) is null",
    ),
    ("duplicate row", DUPLICATE),
)
CHECKS = {"interactions": INTERACTION_CHECKS, "items": ITEM_CHECKS, "customers": CUSTOMER_CHECKS}


def judge(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """Create a view of the table's rows with ``reason`` (or 'ok') and ``failed`` (checks)."""
    con.execute(
        "create or replace temp view valid_items as select tenant_id, item_id from items "
        "where coalesce(item_id, '') <> '' and (price is null or try_cast(price as double) "
        f"is not null) and {KNOWN_TENANT}"
    )
    columns = ", ".join(c[0] for c in con.execute(f"select * from {table} limit 0").description)
    checks = [(reason, sql.format(columns=columns)) for reason, sql in CHECKS[table]]
    flags = ", ".join(f"coalesce({sql}, false) as c{i}" for i, (_, sql) in enumerate(checks))
    first = " ".join(f"when c{i} then '{reason}'" for i, (reason, _) in enumerate(checks))
    failed = " + ".join(f"c{i}::int" for i in range(len(checks)))
    con.execute(
        f"create or replace temp view judged_{table} as "
        f"with flagged as (select {columns}, {flags} from {table} r) "
        f"select {columns}, case {first} else 'ok' end as reason, {failed} as failed "
        "from flagged"
    )
    return f"judged_{table}"


def recount(report: GenerationReport) -> dict[tuple[str, str], int]:
    """Bad rows per (table, reason), counted from the files; asserts one defect per bad row."""
    con = load(report)
    counted: dict[tuple[str, str], int] = {}
    for table in CHECKS:
        judged = judge(con, table)
        for reason, rows, fewest, most in con.execute(
            f"select reason, count(*), min(failed), max(failed) from {judged} group by reason"
        ).fetchall():
            if reason == "ok":
                assert most == 0, f"a good {table} row fails a check"
            else:
                assert fewest == most == 1, f"{table} rows with {reason!r} fail {most} checks"
                counted[(table, reason)] = rows
    return counted


# --------------------------------------------------------------------------- determinism


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_same_seed_gives_identical_files(tmp_path: Path, fmt: str) -> None:
    arguments = {"tenants": 2, "customers": 60, "items": 30, "interactions": 600, "fmt": fmt}
    generate(tmp_path / "a", seed=3, bad_share=0.05, **arguments)
    generate(tmp_path / "b", seed=3, bad_share=0.05, **arguments)
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    assert f"interactions.{fmt}" in names and "_generation.json" in names
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_other_seed_gives_other_data(tmp_path: Path) -> None:
    arguments = {"tenants": 2, "customers": 60, "items": 30, "interactions": 600}
    generate(tmp_path / "a", seed=1, **arguments)
    generate(tmp_path / "b", seed=2, **arguments)
    for name in ("interactions", "items", "customers"):
        a = pq.read_table(tmp_path / "a" / f"{name}.parquet")
        b = pq.read_table(tmp_path / "b" / f"{name}.parquet")
        assert not a.equals(b), name


# --------------------------------------------------------------------------- shapes


def test_writes_every_input_table_with_contract_columns(clean: GenerationReport) -> None:
    assert set(clean.rows) == set(INPUT_TABLES)
    for name in INPUT_TABLES:
        table = pq.read_table(clean.out_dir / f"{name}.parquet")
        spec = contract.TABLES_BY_NAME[name]
        assert set(table.column_names) <= set(spec.column_names), name
        assert set(spec.required_columns) <= set(table.column_names), name
        assert "tenant_id" in table.column_names
        assert table.num_rows == clean.rows[name] > 0, name


def test_report_is_written_as_json(dirty: GenerationReport) -> None:
    written = (dirty.out_dir / "_generation.json").read_text(encoding="utf-8")
    assert written == dirty.to_json()
    document = json.loads(written)
    assert document["rows"] == dirty.rows
    assert {(p["table"], p["reason"]): p["rows"] for p in document["planted"]} == dirty.planted
    assert document["parameters"]["seed"] == 11


def test_clean_parquet_has_real_types(clean: GenerationReport) -> None:
    def types(name: str) -> dict[str, str]:
        schema = pq.read_schema(clean.out_dir / f"{name}.parquet")
        return {field.name: str(field.type) for field in schema}

    assert types("interactions")["occurred_at"].startswith("timestamp")
    assert types("interactions")["quantity"] == "int64"
    assert types("interactions")["value"] == "double"
    assert types("items")["price"] == "double"
    assert types("items")["is_active"] == "bool"
    assert types("items")["min_age"] == "int64"
    assert types("customers")["birth_date"] == "date32[day]"
    assert types("item_restrictions")["allowed"] == "bool"


def test_dirty_tables_are_text(dirty: GenerationReport) -> None:
    for name in ("interactions", "items", "customers"):
        schema = pq.read_schema(dirty.out_dir / f"{name}.parquet")
        assert {str(field.type) for field in schema} == {"string"}, name


def test_tenants_are_listed_and_id_spaces_overlap(clean: GenerationReport) -> None:
    con = load(clean)
    tenants = {row[0] for row in con.execute("select tenant_id from tenants").fetchall()}
    assert tenants == {"t0001", "t0002", "t0003"}
    for table in INPUT_TABLES[1:]:
        used = {row[0] for row in con.execute(f"select distinct tenant_id from {table}").fetchall()}
        assert used <= tenants, table
    # The same ids exist in every tenant.
    for table, column, first in (
        ("items", "item_id", "i00001"),
        ("customers", "customer_id", "c000001"),
    ):
        having = con.execute(
            f"select count(distinct tenant_id) from {table} where {column} = '{first}'"
        ).fetchall()[0][0]
        assert having == 3, table
    shared_items = con.execute(
        "select count(*) from (select item_id from items group by item_id "
        "having count(distinct tenant_id) = 3)"
    ).fetchall()[0][0]
    assert shared_items >= 0.5 * SMALL["items"]


def test_tenant_sizes_vary_around_the_target(clean: GenerationReport) -> None:
    con = load(clean)
    sizes = con.execute(
        "select count(*) from interactions group by tenant_id order by 1"
    ).fetchall()
    target = SMALL["interactions"]
    assert all(0.45 * target <= n <= 1.55 * target for (n,) in sizes)
    assert len({n for (n,) in sizes}) == 3


# --------------------------------------------------------------------------- bad rows


def test_clean_data_has_no_bad_rows(clean: GenerationReport) -> None:
    assert clean.planted == {}
    assert recount(clean) == {}


@pytest.mark.parametrize("data", ["dirty", "dirty_csv", "single"])
def test_planted_bad_rows_are_what_the_report_says(
    data: str, request: pytest.FixtureRequest
) -> None:
    report: GenerationReport = request.getfixturevalue(data)
    assert recount(report) == report.planted


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_bad_rows_stay_distinct_in_a_crowded_data_set(tmp_path: Path, fmt: str) -> None:
    """Few items and many bad rows: spoilt copies often collide and must be written once."""
    crowded = {"tenants": 2, "customers": 3, "items": 2, "interactions": 400, "days": 2}
    report = generate(tmp_path, seed=1, bad_share=0.4, fmt=fmt, **crowded)
    assert recount(report) == report.planted


@pytest.mark.parametrize("data", ["dirty", "dirty_csv"])
def test_every_kind_of_bad_row_is_planted(data: str, request: pytest.FixtureRequest) -> None:
    report: GenerationReport = request.getfixturevalue(data)
    # interactions: empty tenant, unknown tenant, empty customer, empty item, unparseable and
    # future occurred_at, unknown event type, unparseable and non-positive quantity, unknown
    # item, duplicate; items and customers: empty id, an unparseable value, duplicate.
    kinds = {"interactions": 11, "items": 3, "customers": 3}
    assert Counter(table for table, _ in report.planted) == kinds
    assert all(n > 0 for n in report.planted.values())
    reasons = {reason for _, reason in report.planted}
    assert reasons <= {r.value for r in contract.Reason} | {
        contract.unparseable(c) for c in ("occurred_at", "quantity", "price", "birth_date")
    }


def test_bad_share_is_the_share_of_bad_rows(dirty: GenerationReport) -> None:
    for table in ("interactions", "items", "customers"):
        bad = sum(n for (t, _), n in dirty.planted.items() if t == table)
        assert bad / dirty.rows[table] == pytest.approx(0.08, abs=0.01), table


def test_bad_rows_leave_the_good_rows_as_they_were(
    clean: GenerationReport, dirty: GenerationReport
) -> None:
    """With the same seed, the good rows of the dirty data set are exactly the clean data set."""
    typed = {
        "interactions": "tenant_id, customer_id, item_id, occurred_at::timestamp, event_type, "
        "quantity::double, value::double, session_id",
        "items": "tenant_id, item_id, name, category, brand, price::double, is_active::boolean, "
        "min_age::int, sustainability_score::double, launched_at::timestamp",
        "customers": "tenant_id, customer_id, country, birth_date::date, created_at::timestamp",
    }
    clean_con, dirty_con = load(clean), load(dirty)
    for table, columns in typed.items():
        expected = clean_con.execute(f"select {columns} from {table} order by all").fetchall()
        judged = judge(dirty_con, table)
        good = dirty_con.execute(
            f"select {columns} from {judged} where reason = 'ok' order by all"
        ).fetchall()
        assert good == expected, table


def test_no_tenant_id_mode(single: GenerationReport) -> None:
    assert not (single.out_dir / "tenants.parquet").exists()
    assert "tenants" not in single.rows
    for name in INPUT_TABLES[1:]:
        assert "tenant_id" not in pq.read_schema(single.out_dir / f"{name}.parquet").names
    assert not any(reason in ("empty tenant_id", "unknown tenant") for _, reason in single.planted)
    assert len({reason for table, reason in single.planted if table == "interactions"}) == 9


def test_csv_reads_as_text_with_a_header(dirty_csv: GenerationReport) -> None:
    con = duckdb.connect()
    for name in INPUT_TABLES:
        path = dirty_csv.out_dir / f"{name}.csv"
        relation = con.execute(f"select * from read_csv('{path}', all_varchar = true)")
        names = [c[0] for c in relation.description]
        assert set(names) <= set(contract.TABLES_BY_NAME[name].column_names), name
        assert len(relation.fetchall()) == dirty_csv.rows[name], name


@pytest.mark.parametrize(
    "arguments",
    [
        {"tenants": 2, "tenant_id_column": False},
        {"bad_share": 0.6},
        {"bad_share": -0.1},
        {"fmt": "xlsx"},
        {"interactions": 0},
        {"days": 0},
    ],
)
def test_rejects_invalid_arguments(tmp_path: Path, arguments: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        generate(tmp_path, **arguments)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- planted structure


def one(con: duckdb.DuckDBPyConnection, sql: str) -> tuple:
    return con.execute(sql).fetchall()[0]


def test_segments_buy_mostly_their_preferred_categories(
    structured: duckdb.DuckDBPyConnection,
) -> None:
    rows = structured.execute(
        """
        with purchases as (
            select i.tenant_id, p.segment, p.preferred_categories, it.category
            from interactions i
            join items it using (tenant_id, item_id)
            join planted_customers p using (tenant_id, customer_id)
            where i.event_type = 'purchase'
        ),
        segments as (select distinct tenant_id, segment, preferred_categories from purchases),
        own as (
            select tenant_id, segment,
                avg(list_contains(string_split(preferred_categories, '|'), category)::int) as share
            from purchases group by tenant_id, segment
        ),
        everyone as (  -- share of all the tenant's purchases in the segment's categories
            select s.tenant_id, s.segment,
                avg(list_contains(string_split(s.preferred_categories, '|'), p.category)::int)
                    as share
            from segments s join purchases p using (tenant_id) group by s.tenant_id, s.segment
        )
        select own.share, everyone.share from own join everyone using (tenant_id, segment)
        """
    ).fetchall()
    assert len(rows) >= 16
    own = sorted(r[0] for r in rows)
    assert own[len(own) // 2] > 0.6  # the median segment
    assert sum(o > e + 0.3 for o, e in rows) >= 0.9 * len(rows)


def test_item_popularity_is_skewed(structured: duckdb.DuckDBPyConnection) -> None:
    shares = structured.execute(
        """
        with counted as (select tenant_id, item_id, count(*) as n from interactions group by all),
        ranked as (
            select *, row_number() over (partition by tenant_id order by n desc) as rank,
                count(*) over (partition by tenant_id) as items
            from counted
        )
        select sum(n) filter (where rank <= items / 10) / sum(n) from ranked group by tenant_id
        """
    ).fetchall()
    assert all(share > 0.3 for (share,) in shares)


def test_customer_activity_is_heavy_tailed(structured: duckdb.DuckDBPyConnection) -> None:
    top, silent = one(
        structured,
        """
        with counted as (
            select tenant_id, customer_id, count(*) as n from interactions
            where customer_id <> '' group by all
        ),
        ranked as (select *, row_number() over (order by n desc) as rank from counted)
        select sum(n) filter (where rank <= (select count(*) from counted) / 100) / sum(n),
            (select count(*) from customers c where not exists (select 1 from counted k
                where k.tenant_id = c.tenant_id and k.customer_id = c.customer_id))
        from ranked
        """,
    )
    assert top > 0.05  # the top 1% of active customers: 1% under a uniform spread
    assert silent > 0  # cold-start customers


def test_repeat_purchases_follow_the_personal_interval(
    structured: duckdb.DuckDBPyConnection,
) -> None:
    pairs, ratio = one(
        structured,
        """
        with purchases as (
            select tenant_id, customer_id, item_id, occurred_at,
                lag(occurred_at) over (partition by tenant_id, customer_id, item_id
                    order by occurred_at) as previous
            from interactions where event_type = 'purchase' and customer_id <> ''
        ),
        gaps as (
            select tenant_id, customer_id, item_id,
                median(epoch(occurred_at - previous) / 86400) as gap
            from purchases where previous is not null
            group by all having count(*) >= 2
        )
        select count(*), median(gap / repeat_interval_days)
        from gaps join planted_customers using (tenant_id, customer_id)
        """,
    )
    assert pairs >= 100
    assert 0.85 < ratio < 1.15


def test_returns_refer_to_an_earlier_purchase(structured: duckdb.DuckDBPyConnection) -> None:
    returns, matched = one(
        structured,
        """
        select count(*), count(*) filter (where exists (
            select 1 from interactions p
            where p.event_type = 'purchase' and p.tenant_id = r.tenant_id
                and p.customer_id = r.customer_id and p.item_id = r.item_id
                and p.occurred_at < r.occurred_at
                and p.occurred_at > r.occurred_at - interval 31 days))
        from interactions r where r.event_type = 'return'
        """,
    )
    assert returns == matched > 0


def test_event_type_mix(structured: duckdb.DuckDBPyConnection) -> None:
    counts = dict(
        structured.execute("select event_type, count(*) from interactions group by 1").fetchall()
    )
    total = sum(counts.values())
    assert counts["view"] > counts["click"] > counts["cart"] > counts["purchase"]
    assert 0.005 < counts["return"] / total < 0.05
    guests = one(structured, "select count(*) from interactions where customer_id = ''")[0]
    assert 0 < guests < 0.05 * total


def test_time_window_and_seasonality(structured: duckdb.DuckDBPyConnection) -> None:
    first, last = one(structured, "select min(occurred_at), max(occurred_at) from interactions")
    assert first.date() >= END - timedelta(days=364) and last.date() <= END
    by_weekday = dict(
        structured.execute(
            "select dayname(occurred_at), count(*) from interactions group by 1"
        ).fetchall()
    )
    assert by_weekday["Saturday"] > 1.2 * by_weekday["Tuesday"]
    by_month = dict(
        structured.execute(
            "select month(occurred_at), count(*) from interactions group by 1"
        ).fetchall()
    )
    assert by_month[12] > 1.3 * by_month[6]
    peak_months = {"sports": 1, "garden": 5, "outdoor": 7, "toys": 12}
    seasonal = structured.execute(
        "select category, month(occurred_at), count(*) from interactions "
        "join items using (tenant_id, item_id) where category in "
        f"{tuple(peak_months)} group by all"
    ).fetchall()
    counts = {(category, month): n for category, month, n in seasonal}
    present = {category for category, _, _ in seasonal}
    assert present
    peak = sum(counts.get((c, peak_months[c]), 0) for c in present)
    trough = sum(counts.get((c, (peak_months[c] + 5) % 12 + 1), 0) for c in present)
    assert peak > 3 * trough


def test_customers_and_catalogue(structured: duckdb.DuckDBPyConnection) -> None:
    for share, n_countries in structured.execute(
        """
        with counted as (select tenant_id, country, count(*) as n from customers group by all)
        select max(n) / sum(n), count(*) from counted group by tenant_id
        """
    ).fetchall():
        assert 0.45 < share < 0.75 and 5 <= n_countries <= 10
    minors = one(
        structured,
        f"select avg((birth_date > date '{END}' - interval 18 years)::int) from customers",
    )[0]
    assert 0.01 < minors < 0.1
    for n_categories, alcohol_ages in structured.execute(
        "select count(distinct category), list(distinct min_age) filter (where category = "
        "'alcohol') from items group by tenant_id"
    ).fetchall():
        assert 10 <= n_categories <= 20 and alcohol_ages == [18]
    inactive, score_low, score_high = one(
        structured,
        "select avg((not is_active)::int), min(sustainability_score), "
        "max(sustainability_score) from items",
    )
    assert 0.005 < inactive < 0.1 and 0 <= score_low < score_high <= 1


def test_flags_restrictions_consents_and_erasures(structured: duckdb.DuckDBPyConnection) -> None:
    con = structured
    unknown = one(
        con,
        """
        select count(*) from (
            select tenant_id, customer_id from customer_flags
            union all select tenant_id, customer_id from consents
            union all select tenant_id, customer_id from erasure_requests
        ) x anti join customers using (tenant_id, customer_id)
        """,
    )[0]
    assert unknown == 0
    flags = dict(con.execute("select flag, count(*) from customer_flags group by 1").fetchall())
    assert set(flags) == {"no_alcohol", "vulnerable"}
    customers, with_consent, changed, erased = one(
        con,
        """
        select (select count(*) from customers),
            (select count(distinct (tenant_id, customer_id)) from consents),
            (select count(*) from (select 1 from consents group by tenant_id, customer_id
                having count(distinct personalization) = 2)),
            (select count(*) from erasure_requests)
        """,
    )
    assert with_consent == customers and changed > 0 and 0 < erased < 0.01 * customers
    restrictions = con.execute(
        """
        select tenant_id, count(category), count(item_id), bool_or(allowed)
        from item_restrictions group by tenant_id
        """
    ).fetchall()
    assert len(restrictions) == 4
    assert all(1 <= c <= 2 and i >= 1 and not allowed for _, c, i, allowed in restrictions)
    settings = con.execute("select distinct mode, algorithm from tenants").fetchall()
    assert settings == [("on", "auto")]
