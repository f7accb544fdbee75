"""A tenant that no trigger makes due keeps its published lists while its inputs are those they
were made from (docs/lifecycle.md, "Lists kept while nothing changed"): the nightly build does
no work for it. Anything it is made from changing - a row of any of its input tables, its
settings, a rule of every tenant - has it scored again; the order of rows does not.
"""

from __future__ import annotations

import json
import random
import shutil
from datetime import date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recsql.build import BuildResult, build
from recsql.datasets.generator import generate
from tests.conftest import SERVING, query

pytestmark = pytest.mark.slow


def _rewrite(data: Path, table: str, change) -> None:  # type: ignore[no-untyped-def]
    """Rewrite ``table``'s rows (a list of dicts) with ``change``."""
    existing = pq.read_table(data / f"{table}.parquet")
    rows = change(existing.to_pylist())
    # the columns as they were, and any the change added
    added = pa.Table.from_pylist(rows).schema
    schema = pa.schema(
        [*existing.schema, *(f for f in added if f.name not in existing.schema.names)]
    )
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), data / f"{table}.parquet")


def _set(rows: list[dict], tenant: str, column: str, value: object) -> list[dict]:
    """The first row of ``tenant`` with ``column`` set to ``value``."""
    row = next(row for row in rows if row["tenant_id"] == tenant)
    row[column] = value
    return rows


def _plans(db: Path, as_of: str) -> dict[str, tuple[str, str, bool]]:
    rows = query(
        db,
        "select tenant_id, trigger, outcome, carried from build_history where as_of = ?",
        [datetime.fromisoformat(as_of)],
    )
    return {tenant: (trigger, outcome, carried) for tenant, trigger, outcome, carried in rows}


def _served(db: Path, tenant: str) -> dict[str, list[tuple]]:
    return {
        table: sorted(query(db, f"select * from {table} where tenant_id = ?", [tenant]), key=repr)
        for table in SERVING
    }


def test_a_tenant_keeps_its_lists_while_its_inputs_are_those_they_were_made_from(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    generate(data, tenants=5, customers=60, items=30, interactions=900, seed=5)
    # retrained weekly: on the next nights no trigger fires for a tenant without new data
    _rewrite(data, "tenants", lambda rows: [{**row, "retrain_every_days": 7.0} for row in rows])
    db = tmp_path / "shop.duckdb"
    build(data, db, as_of="2026-01-01")
    night1 = db.with_name("night1.duckdb")
    night1.write_bytes(db.read_bytes())

    # night 2: every interaction in another order (nothing changed); one change each for
    # t0002 (an item's name), t0003 (a consent), t0004 (a setting); nothing for t0001, t0005
    _rewrite(data, "interactions", lambda rows: random.Random(2).sample(rows, len(rows)))
    _rewrite(data, "items", lambda rows: _set(rows, "t0002", "name", "Renamed"))
    _rewrite(
        data, "consents", lambda rows: _set(rows, "t0003", "updated_at", datetime(2025, 12, 31))
    )
    _rewrite(data, "tenants", lambda rows: _set(rows, "t0004", "k", 7))
    assert build(data, db, as_of="2026-01-02").carried == 2  # the report counts them
    night2 = _plans(db, "2026-01-02")
    assert night2 == {
        "t0001": ("not_due", "not_due", True),
        "t0002": ("not_due", "not_due", False),
        "t0003": ("not_due", "not_due", False),
        "t0004": ("not_due", "not_due", False),
        "t0005": ("not_due", "not_due", True),
    }
    for tenant in ("t0001", "t0005"):
        assert _served(db, tenant) == _served(night1, tenant), tenant
    # the lists of the others were made again by this build (generated_at), and a carried
    # tenant's are as old as the build that made them (tenant_status.last_built_at)
    made_on = {"t0001": 1, "t0002": 2, "t0003": 2, "t0004": 2, "t0005": 1}
    for made in (
        "select tenant_id, max(generated_at) from recommendations group by 1",
        "select tenant_id, last_built_at from tenant_status",
    ):
        assert {tenant: at.day for tenant, at in query(db, made)} == made_on, made
    reason = query(db, "select last_reason from tenant_status where tenant_id = 't0001'")[0][0]
    assert "its inputs are those build" in reason

    # night 3: a rule of every tenant: every tenant is scored again, and the rule applies
    pq.write_table(
        pa.Table.from_pylist(
            [
                {
                    "tenant_id": "*",
                    "rule_id": "no_alcohol_anywhere",
                    "action": "exclude",
                    "item_condition": "category = 'alcohol'",
                    "reason": "house policy",
                }
            ]
        ),
        data / "rules.parquet",
    )
    build(data, db, as_of="2026-01-03")
    assert {tenant: plan[2] for tenant, plan in _plans(db, "2026-01-03").items()} == dict.fromkeys(
        ("t0001", "t0002", "t0003", "t0004", "t0005"), False
    )
    assert query(
        db,
        "select count(*) from recommendations join recsql_data.items using (tenant_id, item_id) "
        "where category = 'alcohol'",
    ) == [(0,)]


#: What a held tenant's published rows are, beside its lists: compared whole below.
_PUBLISHED = (
    *SERVING,
    "recsql_data.input_row_counts",
    "recsql_data.bought_items",
    "recsql_data.customer_rule_states",
    "recsql_data.customer_shelves",
    "recsql_data.rule_class_verdicts",
    "recsql_data.item_rule_states",
    "recsql_data.visitor_rule_states",
    "recsql_data.rule_decisions",
    "recsql_data.items",
    "recsql_data.model_evaluations",
    "recsql_data.tenant_champions",
    "recsql_data.tenant_settings",
    "recsql_data.tenant_inputs",
    "tenant_status",
)


def _as_csv(parquet: Path, csv: Path) -> None:
    """The input directory ``parquet`` written again as CSV files: read as streams, whose
    tenants are all staged (stg_interactions_hashed sees nothing)."""
    csv.mkdir()
    con = duckdb.connect()
    for table in parquet.glob("[!_]*.parquet"):
        con.execute(
            f"copy (select * from read_parquet('{table}')) "
            f"to '{csv / table.with_suffix('.csv').name}' (header)"
        )
    con.close()


def _rounded(row: tuple) -> tuple:
    """``row`` with its floats to 9 places: a sum's last bit depends on the order DuckDB's
    threads add in."""
    return tuple(round(value, 9) if isinstance(value, float) else value for value in row)


def _next_nights(
    tmp_path: Path, data: Path, night1: Path, **options: object
) -> dict[str, tuple[Path, BuildResult]]:
    """The night after ``night1`` (a built directory) built twice from copies of it: from the
    Parquet inputs ``data`` and from the same inputs as CSV (streamed: every tenant staged)."""
    nights = {}
    for name, inputs in (("parquet", data), ("csv", tmp_path / "csv_inputs")):
        if name == "csv":
            _as_csv(data, inputs)
        night = tmp_path / name
        shutil.copytree(night1, night)
        db = night / "shop.duckdb"
        nights[name] = (db, build(inputs, db, as_of="2026-01-02", keep_build_db=True, **options))
    return nights


def _assert_published_alike(nights: dict[str, Path], where: str = "true") -> None:
    """Every table of _PUBLISHED holds the same rows (``where``) in both nights' files."""
    for table in _PUBLISHED:
        rows = {
            name: sorted(
                (_rounded(row) for row in query(db, f"select * from {table} where {where}")),
                key=repr,
            )
            for name, db in nights.items()
        }
        assert rows["parquet"] == rows["csv"], table


def _build_database(db: Path, sql: str) -> set[tuple]:
    con = duckdb.connect(str(db.with_name(db.name + ".build") / "build.duckdb"), read_only=True)
    try:
        return set(con.execute(sql).fetchall())
    finally:
        con.close()


def test_a_tenant_carried_before_its_interactions_are_staged_publishes_what_staging_would(
    tmp_path: Path,
) -> None:
    """A night does not validate the interactions of a tenant whose raw rows are those its
    lists were read from (stg_carried_tenants). Its published rows - lists, counts,
    quarantine, bought items, customers known only from their interactions, status - are those
    of a night that validates them all (the same inputs as CSV, which are streamed and always
    staged)."""
    data = tmp_path / "data"
    generate(data, tenants=5, customers=60, items=30, interactions=900, seed=5)
    _rewrite(data, "tenants", lambda rows: [{**row, "retrain_every_days": 7.0} for row in rows])
    interactions = pq.read_table(data / "interactions.parquet").to_pylist()
    # t0001 knows one of its buyers only from their interactions; t0002 has rows quarantined;
    # t0003 a row in the future, rejected tonight, accepted on a later night: it is staged
    only_interacting = next(r["customer_id"] for r in interactions if r["tenant_id"] == "t0001")
    _rewrite(
        data,
        "customers",
        lambda rows: [
            r for r in rows if (r["tenant_id"], r["customer_id"]) != ("t0001", only_interacting)
        ],
    )
    bad = next(r for r in interactions if r["tenant_id"] == "t0002")
    future = next(r for r in interactions if r["tenant_id"] == "t0003")
    _rewrite(
        data,
        "interactions",
        lambda rows: [
            *rows,
            {**bad, "item_id": "no-such-item"},
            {**bad, "quantity": -2},
            {**future, "occurred_at": datetime(2026, 6, 1)},
        ],
    )
    night1 = tmp_path / "night1"
    night1.mkdir()
    build(data, night1 / "shop.duckdb", as_of="2026-01-01")

    built = _next_nights(tmp_path, data, night1)
    for name, (db, result) in built.items():
        assert (result.carried, result.carried_before_staging) == (
            (5, 4) if name == "parquet" else (5, 0)
        )
        report = json.loads((db.with_name(db.name + ".build") / "report.json").read_text())
        assert report["tenants_carried_before_staging"] == result.carried_before_staging
    nights = {name: db for name, (db, _) in built.items()}

    unstaged = "select tenant_id from staging.stg_carried_tenants"
    assert _build_database(nights["parquet"], unstaged) == {
        ("t0001",),
        ("t0002",),
        ("t0004",),
        ("t0005",),
    }
    assert _build_database(nights["csv"], unstaged) == set()
    validated = "select distinct tenant_id from staging.stg_interactions_validated"
    assert _build_database(nights["parquet"], validated) == {("t0003",)}
    # and kept whole: the publication keeps their rows, which the serving models leave out
    kept = "select tenant_id from lifecycle.kept_tenants"
    assert _build_database(nights["parquet"], kept) == _build_database(nights["parquet"], unstaged)
    assert _build_database(nights["csv"], kept) == set()
    served = "select distinct tenant_id from serving.recommendations"
    assert _build_database(nights["parquet"], served) == {("t0003",)}

    _assert_published_alike(nights)
    # the quarantine as published: the same rows, for the same reasons (their file is the one
    # each night read them from)
    quarantined = (
        "select tenant_id, reason, count(*) from recsql_data.quarantined_rows "
        "where source_table = 'interactions' group by all"
    )
    published = {name: sorted(query(db, quarantined)) for name, db in nights.items()}
    assert published["parquet"] == published["csv"]
    assert ("t0002", "item not in items", 1) in query(nights["parquet"], quarantined)
    assert query(
        nights["parquet"],
        "select count(*) from recsql_data.customer_rule_states "
        "where tenant_id = 't0001' and customer_id = ?",
        [only_interacting],
    ) == [(1,)]


def test_without_a_tenants_input_the_tenants_the_rows_name_are_carried_before_staging(
    tmp_path: Path,
) -> None:
    """Without a tenants input the tenants are those the items and interactions name, with the
    default settings: the shortcut holds for them too (and the build still knows them all)."""
    data = tmp_path / "data"
    generate(data, tenants=3, customers=40, items=20, interactions=400, seed=8)
    (data / "tenants.parquet").unlink()
    db = tmp_path / "shop.duckdb"
    build(data, db, as_of="2026-01-01")
    # the same clock again: no version is a day old (retrain_every_days 1 by default)
    assert build(data, db, as_of="2026-01-01", keep_build_db=True).carried == 3
    tenants = {("t0001",), ("t0002",), ("t0003",)}
    assert _build_database(db, "select tenant_id from staging.stg_carried_tenants") == tenants
    assert _build_database(db, "select tenant_id from base.tenant_settings") == tenants
    # a clock set back (a replay of an earlier night) may reject rows as in the future that
    # the lists' build accepted: every tenant is staged again
    build(data, db, as_of="2025-12-31", keep_build_db=True)
    assert _build_database(db, "select tenant_id from staging.stg_carried_tenants") == set()
    assert _build_database(db, "select distinct tenant_id from staging.stg_interactions") == tenants


def test_tenants_left_out_by_tenants_keep_their_rows_without_being_staged(
    tmp_path: Path,
) -> None:
    """`recsql build --tenants` holds the others; those whose raw rows did not change are not
    staged either, and keep every published row as a build that staged them would."""
    data = tmp_path / "data"
    generate(data, tenants=3, customers=40, items=20, interactions=400, seed=9)
    night1 = tmp_path / "night1"
    night1.mkdir()
    build(data, night1 / "shop.duckdb", as_of="2026-01-01")
    built = _next_nights(tmp_path, data, night1, tenants=["t0002"])
    for name, (_, result) in built.items():
        assert result.carried_before_staging == (2 if name == "parquet" else 0)
    nights = {name: db for name, (db, _) in built.items()}
    assert _build_database(
        nights["parquet"], "select tenant_id from staging.stg_carried_tenants"
    ) == {("t0001",), ("t0003",)}
    # the held tenants' rows (t0002's carry each night's build id, and its raw rows' hash only
    # where they were read from Parquet)
    _assert_published_alike(nights, where="tenant_id <> 't0002'")


def test_a_tenant_is_kept_whole_unless_the_clock_changes_what_its_rules_make_of_it(
    tmp_path: Path,
) -> None:
    """A tenant carried before staging is kept whole (its published rows kept, not judged
    again: lifecycle.kept_tenants) while today's rules make of its people what they did: a
    birthday alone keeps it, the new age published; a customer reaching an item's age limit,
    or a rule that reads the clock, has its lists judged again."""
    data = tmp_path / "data"
    generate(data, tenants=3, customers=40, items=20, interactions=500, seed=11)
    _rewrite(data, "tenants", lambda rows: [{**row, "retrain_every_days": 7.0} for row in rows])
    turning = {"t0001": 18, "t0002": 40}  # on the second night (min_age 18 in the generator's)
    firsts = {}
    erased = {(r["tenant_id"], r["customer_id"]) for r in _rows(data, "erasure_requests")}

    def birthdays(rows: list[dict]) -> list[dict]:
        for tenant, age in turning.items():
            row = next(
                r
                for r in rows
                if r["tenant_id"] == tenant and (tenant, r["customer_id"]) not in erased
            )
            row["birth_date"] = date(2026 - age, 1, 2)
            firsts[tenant] = row["customer_id"]
        return rows

    _rewrite(data, "customers", birthdays)
    assert any(r["tenant_id"] == "t0001" and r["min_age"] == 18 for r in _rows(data, "items"))
    (data / "rules.csv").write_text(
        "tenant_id,rule_id,action,customer_condition,item_condition,reason\n"
        "t0003,old-stock,exclude,,\"date_diff('day', launched_at, current_date) > 100000\","
        "nothing is that old\n"
    )
    db = tmp_path / "shop.duckdb"
    build(data, db, as_of="2026-01-01")
    night1 = {tenant: _served(db, tenant) for tenant in ("t0001", "t0002", "t0003")}
    result = build(data, db, as_of="2026-01-02", keep_build_db=True)

    assert (result.carried, result.carried_before_staging) == (3, 3)
    kept = "select tenant_id from lifecycle.kept_tenants"
    assert _build_database(db, kept) == {("t0002",)}
    served = "select distinct tenant_id from serving.recommendations"
    assert _build_database(db, served) == {("t0001",), ("t0003",)}
    for tenant, lists in night1.items():
        assert _served(db, tenant) == lists, tenant
    ages = {
        tenant: query(
            db,
            "select age, age_band from recsql_data.customer_rule_states "
            "where tenant_id = ? and customer_id = ?",
            [tenant, customer],
        )
        for tenant, customer in firsts.items()
    }
    assert ages == {"t0001": [(18, 18)], "t0002": [(40, 18)]}


def _rows(data: Path, table: str) -> list[dict]:
    return pq.read_table(data / f"{table}.parquet").to_pylist()
