"""Validation in staging, against a fixture whose every row has a known fate.

Each input table below lists (CSV line, expected outcome): 'accepted' or the quarantine
reason. One build checks them all, the typed values of the accepted rows, and the accounting.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pytest

from recsql.build import BuildFailed, BuildResult
from recsql.contract import TABLES, default_settings
from tests.conftest import query, write_inputs

pytestmark = pytest.mark.slow

ACCEPTED = "accepted"

FIXTURE: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "tenants": (
        # t1's rows below are mostly bad on purpose: it accepts a small share of them
        "tenant_id,mode,k,algorithm,half_life_days,min_accepted_share",
        [
            ("t1,on,5,auto,14,0.1", ACCEPTED),
            ("t2,,,,,", ACCEPTED),
        ],
    ),
    "items": (
        "tenant_id,item_id,name,category,brand,price,is_active,min_age,sustainability_score,"
        "launched_at,colour",
        [
            ("t1,i1,Mug,kitchen,,4.5,true,,0.7,2024-01-01,red", ACCEPTED),
            ("t1,i2,Wine,alcohol,,12,yes,18,,,red", ACCEPTED),
            ("t1,i3,Old mug,kitchen,,1,false,,,,", ACCEPTED),
            ("t2,i1,Another tenant's i1,toys,,3,,,,,", ACCEPTED),
            ("t9,i1,x,,,,,,,,", "unknown tenant"),
            (",i5,x,,,,,,,,", "empty tenant_id"),
            ("t1,,x,,,,,,,,", "empty item_id"),
            ("t1, i5 ,x,,,cheap,,,,,", "unparseable price"),
            ("t1,i7,x,,,-1,,,,,", "negative price"),
            ("t1,i8,x,,,,maybe,,,,", "unparseable is_active"),
            ("t1,i9,x,,,,,adult,,,", "unparseable min_age"),
            ("t1,i10,x,,,,,2.5,,,", "unparseable min_age"),
            ("t1,i11,x,,,,,-3,,,", "negative min_age"),
            ("t1,i12,x,,,,,,high,,", "unparseable sustainability_score"),
            ("t1,i13,x,,,,,,1.5,,", "sustainability_score outside 0..1"),
            ("t1,i14,x,,,,,,,someday,", "unparseable launched_at"),
            ("t1,i16,Lamp,kitchen,,20,,,,1300000000000,", ACCEPTED),  # epoch milliseconds
            ("t1,i1,Mug,kitchen,,4.5,true,,0.7,2024-01-01,red", "duplicate row"),
            ("t1,i1,Mug v2,kitchen,,5,true,,0.7,2024-01-01,red", "conflicting duplicate key"),
            ("t1,i15,x,,,,,,,,,surplus,values", "malformed csv line"),
        ],
    ),
    "interactions": (
        "tenant_id,customer_id,item_id,occurred_at,event_type,quantity,value,session_id",
        [
            ("t1,c1,i1,2025-06-01 10:00:00,purchase,2,9,s1", ACCEPTED),
            ("t1,c1,i1,2025-06-01 10:00:00,purchase,2,9,s1", "duplicate row"),
            ("t1,,i2,2025-06-02 10:00:00,purchase,1,12,s2", ACCEPTED),  # a guest event
            ("t1,,i2,2025-06-02,purchase,1,,", "empty customer_id"),
            ("t1,c2,,2025-06-02,purchase,1,,", "empty item_id"),
            (",c2,i1,2025-06-02,purchase,1,,", "empty tenant_id"),
            ("t9,c2,i1,2025-06-02,purchase,1,,", "unknown tenant"),
            ("t1,c2,i1,,purchase,1,,", "empty occurred_at"),
            ("t1,c2,i1,yesterday,purchase,1,,", "unparseable occurred_at"),
            ("t1,c2,i1,2026-01-03 00:00:00,purchase,1,,", "occurred_at in the future"),
            ("t1,c2,i1,2026-01-01 12:00:00,purchase,1,,", ACCEPTED),  # within a day: clock skew
            ("t1,c2,i1,2025-06-03,wishlist,1,,", "unknown event_type"),
            ("t1,c2,i1,2025-06-03,Purchase,three,,", "unparseable quantity"),
            ("t1,c2,i1,2025-06-03,purchase,0,,", "non-positive quantity"),
            ("t1,c2,i1,2025-06-03,view,-2,,", "non-positive quantity"),
            ("t1,c2,i1,2025-06-04,RETURN,-2,,", ACCEPTED),  # a signed return
            ("t1,c2,i1,2025-06-03,purchase,1,lots,", "unparseable value"),
            ("t1,c2,i99,2025-06-03,purchase,1,,", "item not in items"),
            ("t2,c2,i2,2025-06-03,purchase,1,,", "item not in items"),  # i2 is t1's only
            ("t1,c3,i5,2025-06-03,purchase,1,,", "item not in items"),  # i5 was rejected
            ("t1,c3,i1,2025-06-05T10:00:00+02:00,,,,", ACCEPTED),
            ("t1,c3,i1, 2025-6-7 8:09:10 ,view,,,", ACCEPTED),  # unpadded: read by strptime
            # whole numbers between 1990 and 2100 in seconds, ms, µs or ns since 1970
            ("t1,c4,i1,1300000000,purchase,1,,", ACCEPTED),
            ("t1,c4,i1,1300000001250,purchase,1,,", ACCEPTED),
            ("t1,c4,i1,1300000002000500,purchase,1,,", ACCEPTED),
            ("t1,c4,i1,1300000003000000999,purchase,1,,", ACCEPTED),
            ("t1,c4,i1,12345,purchase,1,,", "unparseable occurred_at"),  # 1970
            ("t1,c4,i1,20110304,purchase,1,,", "unparseable occurred_at"),  # not yyyymmdd
            ("t1,c4,i1,9999999999999999999999,purchase,1,,", "unparseable occurred_at"),
            ("t2,c5,i1,2025-06-03,purchase,1,,", ACCEPTED),
            ("t1,c1,i1", "malformed csv line"),
        ],
    ),
    "customers": (
        "tenant_id,customer_id,country,birth_date,created_at,loyalty_points",
        [
            ("t1,c1,DE,1990-05-01,2020-01-01,120", ACCEPTED),
            ("t1,c2,FR,2010-01-01,,3", ACCEPTED),
            ("t1,,DE,,,", "empty customer_id"),
            ("t1,c4,DE,yesterday,,", "unparseable birth_date"),
            ("t1,c5,DE,2030-01-01,,", "birth_date in the future"),
            ("t1,c6,DE,,soon,", "unparseable created_at"),
            ("t1,c1,DE,1990-05-01,2020-01-01,120", "duplicate row"),
            ("t1,c1,UK,1990-05-01,2020-01-01,120", "conflicting duplicate key"),
            ("t9,c1,DE,,,", "unknown tenant"),
        ],
    ),
    "customer_flags": (
        "tenant_id,customer_id,flag",
        [
            ("t1,c1,No_Alcohol", ACCEPTED),
            ("t1,c1,No_Alcohol", "duplicate row"),
            ("t1,,vulnerable", "empty customer_id"),
            ("t1,c2,", "empty flag"),
            ("t9,c1,x", "unknown tenant"),
        ],
    ),
    "item_restrictions": (
        "tenant_id,item_id,category,country,allowed",
        [
            ("t1,i2,,DE,false", ACCEPTED),
            ("t1,,alcohol,FR,no", ACCEPTED),
            ("t1,,,DE,false", "neither item_id nor category"),
            ("t1,i1,,,false", "empty country"),
            ("t1,i1,,DE,", "empty allowed"),
            ("t1,i1,,DE,perhaps", "unparseable allowed"),
            ("t1,i2,,DE,false", "duplicate row"),
        ],
    ),
    "consents": (
        "tenant_id,customer_id,personalization,marketing,updated_at",
        [
            ("t1,c1,true,false,2025-01-01", ACCEPTED),
            ("t1,c1,TRUE,1,2025-02-01", ACCEPTED),
            ("t1,,true,true,", "empty customer_id"),
            ("t1,c2,,true,", "empty personalization"),
            ("t1,c2,sure,true,", "unparseable personalization"),
            ("t1,c2,true,,", "empty marketing"),
            ("t1,c2,true,nah,", "unparseable marketing"),
            ("t1,c2,true,true,later", "unparseable updated_at"),
        ],
    ),
    "erasure_requests": (
        "tenant_id,customer_id,requested_at",
        [
            ("t1,c9,2025-07-01", ACCEPTED),
            ("t1,,2025-07-01", "empty customer_id"),
            ("t1,c9,", "empty requested_at"),
            ("t1,c9,asap", "unparseable requested_at"),
            ("t1,c9,2025-07-01", "duplicate row"),
        ],
    ),
    "rules": (
        "tenant_id,rule_id,action,customer_condition,item_condition,value,reason,enabled",
        [
            ("*,r1,exclude,,category = 'alcohol',,No alcohol,true", ACCEPTED),
            ("t1,r2,Boost,,,1.5,Summer promotion,", ACCEPTED),
        ],
    ),
}

# Rules and tenants are configuration: a rejected row that names no tenant, every tenant ('*')
# or a tenant no tenants row lists fails the whole build (checked below); one of a listed tenant
# fails that tenant (tests/test_tenant_failures.py).
BAD_CONFIGURATION: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "tenants": (
        "tenant_id,mode,k,algorithm,half_life_days,als_regularization,candidates_n,"
        "min_accepted_share",
        [
            ("t1,on,5,auto,14,,,0.1", ACCEPTED),
            ("t2,,,,,,,", ACCEPTED),
            (",on,,,,,,", "empty tenant_id"),
            ("t3,paused,,,,,,", "invalid mode"),
            ("t4,on,0,,,,,", "invalid k"),
            ("t5,on,ten,,,,,", "invalid k"),
            ("t6,on,2.5,,,,,", "invalid k"),
            ("t7,on,,magic,,,,", "invalid algorithm"),
            ("t8,on,,,-1,,,", "invalid half_life_days"),
            ("t9,On,20,AUTO,7,0,,", "invalid als_regularization"),  # must be > 0
            ("t10,on,,,,1e-9,,", ACCEPTED),
            ("t11,on,,,,,5,", "invalid candidates_n"),  # below the default k, 10
            ("t12,on,5,,,,5,", ACCEPTED),
            ("t13,on,,,,,,1.5", "invalid min_accepted_share"),
            ("t14,paused,0,magic,,,,", "invalid mode"),  # the first setting in contract order
            ("t1,on,6,auto,14,,,", "conflicting duplicate key"),
        ],
    ),
    "rules": (
        "tenant_id,rule_id,action,customer_condition,item_condition,value,reason,enabled",
        [
            ("*,r1,exclude,,category = 'alcohol',,No alcohol,true", ACCEPTED),
            ("t9,r2,exclude,,,,x,", "unknown tenant"),
            ("t1,,exclude,,,,x,", "empty rule_id"),
            ("t1,r3,,,,,x,", "empty action"),
            ("t1,r4,exclud,,,,x,", "unknown action"),
            ("t1,r5,exclude,,,,,", "empty reason"),
            ("t1,r6,boost,,,double,x,", "unparseable value"),
            ("t1,r7,exclude,,,,x,sometimes", "unparseable enabled"),
            ("t1,r8,cap,,,1.5,x,", "invalid value for cap"),
            ("t1,r9,cap,,,,x,", "invalid value for cap"),
            ("t1,r10,boost,,,0,x,", "invalid value for boost"),
            ("*,r1,exclude,,category = 'alcohol',,No alcohol,true", "duplicate row"),
            ("*,r1,exclude,,category = 'toys',,No toys,true", "conflicting duplicate key"),
        ],
    ),
}


def write_fixture(directory: Path, fixture: dict[str, tuple[str, list[tuple[str, str]]]]) -> None:
    write_inputs(
        directory,
        {
            f"{table}.csv": "\n".join([header, *(line for line, _ in rows)]) + "\n"
            for table, (header, rows) in fixture.items()
        },
    )


def outcomes(build_db: Path, table: str) -> list[str]:
    """Each row's fate in file order; unparseable lines (no row number) come last."""
    rows = query(
        build_db,
        f"select coalesce(rejection_reason, 'accepted') from staging.stg_{table}_validated "
        "order by _source_row nulls last, row_json",
    )
    return [r[0] for r in rows]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, build_inputs) -> BuildResult:
    root = tmp_path_factory.mktemp("staging")
    write_fixture(root / "data", FIXTURE)
    return build_inputs(root / "data", root / "recsql.duckdb")


@pytest.mark.parametrize("table", list(FIXTURE))
def test_every_row_has_its_expected_fate(built: BuildResult, table: str) -> None:
    _, rows = FIXTURE[table]
    assert outcomes(built.build_db, table) == [expected for _, expected in rows]


def test_every_reason_is_in_the_served_quarantine(built: BuildResult) -> None:
    expected = sorted(
        (table, reason)
        for table, (_, rows) in FIXTURE.items()
        for _, reason in rows
        if reason != ACCEPTED
    )
    served = query(built.db_path, "select source_table, reason from quarantined_rows")
    assert sorted(served) == expected


def test_rows_read_equal_accepted_plus_quarantined_per_table(built: BuildResult) -> None:
    for counts in built.counts:
        _, rows = FIXTURE[counts.source_table]
        assert counts.rows_read == len(rows)
        assert counts.rows_accepted == sum(1 for _, e in rows if e == ACCEPTED)
        assert counts.rows_read == counts.rows_accepted + counts.rows_quarantined
    assert {c.source_table for c in built.counts} == set(FIXTURE)
    assert {t.name for t in TABLES} == set(FIXTURE)  # the fixture covers every input table


def test_quarantined_rows_carry_the_row_as_read(built: BuildResult) -> None:
    [(row_json,)] = query(
        built.db_path,
        "select row_json from quarantined_rows where reason = 'unparseable quantity'",
    )
    assert json.loads(row_json)["quantity"] == "three"
    [(line_json,)] = query(
        built.db_path,
        "select row_json from quarantined_rows "
        "where source_table = 'interactions' and reason = 'malformed csv line'",
    )
    assert json.loads(line_json)["text"] == "t1,c1,i1"


def test_accepted_rows_are_typed(built: BuildResult) -> None:
    db = built.build_db
    rows = query(
        db,
        "select customer_id, item_id, occurred_at, event_type, quantity, value, session_id "
        "from staging.stg_interactions order by occurred_at",
    )
    assert rows == [
        ("c4", "i1", datetime(2011, 3, 13, 7, 6, 40), "purchase", 1.0, None, None),
        ("c4", "i1", datetime(2011, 3, 13, 7, 6, 41, 250000), "purchase", 1.0, None, None),
        ("c4", "i1", datetime(2011, 3, 13, 7, 6, 42, 500), "purchase", 1.0, None, None),
        ("c4", "i1", datetime(2011, 3, 13, 7, 6, 43), "purchase", 1.0, None, None),  # ns: to µs
        ("c1", "i1", datetime(2025, 6, 1, 10), "purchase", 2.0, 9.0, "s1"),
        (None, "i2", datetime(2025, 6, 2, 10), "purchase", 1.0, 12.0, "s2"),
        ("c5", "i1", datetime(2025, 6, 3), "purchase", 1.0, None, None),
        ("c2", "i1", datetime(2025, 6, 4), "return", 2.0, None, None),
        ("c3", "i1", datetime(2025, 6, 5, 8), "purchase", 1.0, None, None),  # +02:00 -> UTC
        ("c3", "i1", datetime(2025, 6, 7, 8, 9, 10), "view", 1.0, None, None),
        ("c2", "i1", datetime(2026, 1, 1, 12), "purchase", 1.0, None, None),
    ]
    items = query(
        db,
        "select tenant_id, item_id, price, is_active, min_age, sustainability_score, colour "
        "from staging.stg_items order by tenant_id, item_id",
    )
    assert items == [
        ("t1", "i1", 4.5, True, None, 0.7, "red"),
        ("t1", "i16", 20.0, True, None, None, None),
        ("t1", "i2", 12.0, True, 18, None, "red"),
        ("t1", "i3", 1.0, False, None, None, None),
        ("t2", "i1", 3.0, True, None, None, None),
    ]
    assert query(db, "select launched_at from staging.stg_items where item_id = 'i16'") == [
        (datetime(2011, 3, 13, 7, 6, 40),)
    ]
    assert query(
        db,
        "select customer_id, birth_date, loyalty_points from staging.stg_customers "
        "order by customer_id",
    ) == [
        ("c1", date(1990, 5, 1), 120),
        ("c2", date(2010, 1, 1), 3),
    ]
    assert query(db, "select flag from staging.stg_customer_flags") == [("no_alcohol",)]
    assert query(
        db,
        "select has_personalization_consent, has_marketing_consent from staging.stg_consents "
        "order by updated_at",
    ) == [(True, False), (True, True)]
    assert query(
        db,
        "select tenant_id, rule_id, action, value, is_enabled from staging.stg_rules "
        "order by rule_id",
    ) == [("*", "r1", "exclude", None, True), ("t1", "r2", "boost", 1.5, True)]


def test_tenant_settings_fall_back_to_the_defaults(built: BuildResult) -> None:
    assert query(
        built.db_path,
        "select tenant_id, mode, k, algorithm, half_life_days, min_accepted_share "
        "from tenant_settings order by tenant_id",
    ) == [("t1", "on", 5, "auto", 14.0, 0.1), ("t2", "on", 10, "auto", 30.0, 0.5)]
    [(t2,)] = query(
        built.db_path, "select to_json(s) from tenant_settings as s where tenant_id = 't2'"
    )
    assert json.loads(t2) == {"tenant_id": "t2", **default_settings()}


@pytest.mark.parametrize("table", list(BAD_CONFIGURATION))
def test_a_rejected_rule_or_tenant_fails_the_build_and_publishes_nothing(
    tmp_path: Path, build_inputs, table: str
) -> None:
    data = tmp_path / "data"
    write_fixture(data, {**FIXTURE, table: BAD_CONFIGURATION[table]})
    served = tmp_path / "recsql.duckdb"
    served.write_bytes(b"the database being served")
    with pytest.raises(BuildFailed) as failed:
        build_inputs(data, served)
    message = str(failed.value)
    assert f"no_rejected_rows_stg_{table}_validated" in message
    _, rows = BAD_CONFIGURATION[table]
    stopping = [
        reason
        for line, reason in rows
        if reason != ACCEPTED and (line.split(",")[0] in ("", "*") or reason == "unknown tenant")
    ]
    assert f"Got {len(stopping)} result" in message
    assert all(reason in message for reason in stopping)  # the rows are shown, not only counted
    assert served.read_bytes() == b"the database being served"
    build_db = served.with_name("recsql.duckdb.build") / "build.duckdb"
    assert outcomes(build_db, table) == [expected for _, expected in rows]
