"""Failures stay with their tenant, and `--tenants` builds only some (docs/lifecycle.md).

Night 1 builds three generated tenants. Night 2 breaks two of them - t0002 gets a rule the guard
refuses, t0003 a settings row out of range - while today's rules change for t0002 (a customer
erased, another withdraws personalization consent, an item discontinued) and t0001 gets new
purchases: the build publishes, exits 3 with one line per failed tenant, t0001 is built afresh,
and each failed tenant serves exactly its night-1 rows minus the ones today's rules forbid
(computed here from the night-1 file), renumbered, with no refill. Night 3 fixes the inputs but
builds only t0001 (`--tenants`): the others keep night 2's rows and get no history row; a
misspelt tenant stops the build. Night 4 builds the failed tenants afresh (t0001, unchanged
since night 2, keeps its lists: carried). Night 5 plants a defect in a copy of the project -
t0002's fresh lists break a compliance guarantee - and night 6 makes fitting t0002's models
raise: each time t0002 alone fails the same way, and the version trained for it is `failed`.
"""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recsql.build import BuildFailed, build, runner
from recsql.datasets.generator import generate
from recsql.engine import candidates
from tests.conftest import copy_project, query, run_recsql

pytestmark = pytest.mark.slow


LISTS = {
    "recommendations": "customer_id, rank, item_id, algorithm, reason, model_version",
    "buy_again": "customer_id, rank, item_id, algorithm, reason, model_version",
    "popular_items": "country, rank, item_id, score",
    "similar_items": "item_id, rank, similar_item_id, score",
    "trending_items": "rank, item_id, score",
    "recsql_data.visitor_popular_items": "country, rank, item_id, reason, model_version",
    "recsql_data.item_factors": "item_id, factors",
}


def _rows(db: Path, table: str, tenant: str) -> list[tuple]:
    return sorted(
        query(db, f"select {LISTS[table]} from {table} where tenant_id = ?", [tenant]),
        key=repr,
    )


def _rewrite(data: Path, table: str, change) -> None:
    rows = [change(row) for row in pq.read_table(data / f"{table}.parquet").to_pylist()]
    schema = pq.read_schema(data / f"{table}.parquet")
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), data / f"{table}.parquet")


def _append(data: Path, table: str, rows: list[dict[str, object]]) -> None:
    existing = pq.read_table(data / f"{table}.parquet")
    added = pa.Table.from_pylist(rows, schema=existing.schema)
    pq.write_table(pa.concat_tables([existing, added]), data / f"{table}.parquet")


def _renumbered(rows: list[tuple], group: int) -> list[tuple]:
    """``rows`` (the ``group`` first columns identify a list, then rank) with ranks 1, 2, ...
    in their order within each list."""
    out, seen = [], {}
    for row in sorted(rows, key=lambda r: (repr(r[:group]), r[group])):
        key = row[:group]
        seen[key] = seen.get(key, 0) + 1
        out.append((*key, seen[key], *row[group + 1 :]))
    return sorted(out, key=repr)


def _build(data: Path, db: Path, as_of: str, *extra: str):
    return run_recsql("build", "--data", str(data), "--db", str(db), "--as-of", as_of, *extra)


def _history(db: Path, build_as_of: str) -> dict[str, str]:
    return dict(
        query(
            db,
            "select tenant_id, outcome from build_history where as_of = ?::timestamp",
            [build_as_of],
        )
    )


#: A defect planted in a copy of the project: t0002's fresh discover lists offer an inactive item.
_DEFECT = """
union all by name
select
    tenant_id, 'discover' as shelf, customer_id, 99 as rank, item_id, 1.0 as score,
    'ease' as algorithm, 'planted' as reason, null as model_version,
    null::timestamp as generated_at
from (
    select shelves.tenant_id, shelves.customer_id, items.item_id
    from {{ ref('customer_shelves') }} as shelves
    inner join {{ ref('stg_items') }} as items on shelves.tenant_id = items.tenant_id
    where shelves.tenant_id = 't0002' and not items.is_active and shelves.shelf = 'discover'
    order by shelves.customer_id, items.item_id
    limit 1
)
"""


def test_failures_stay_with_their_tenant_night_after_night(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    generate(data, tenants=3, customers=80, items=40, interactions=1500, seed=11)
    db = tmp_path / "shop.duckdb"
    night1 = _build(data, db, "2026-01-05")
    assert night1.returncode == 0, night1.stderr
    before = {(t, n): _rows(db, t, n) for t in LISTS for n in ("t0001", "t0002", "t0003")}
    shutil.copy(db, tmp_path / "night1.duckdb")
    [(version_2,)] = query(db, "select active_version from tenant_status where tenant_id = 't0002'")

    # today's rules for t0002: a customer erased, one without personalization consent, an item
    # discontinued - each chosen where the night-1 lists show it
    discover = before[("recommendations", "t0002")]
    erased = discover[0][0]
    unconsenting = next(row[0] for row in discover if row[0] != erased)
    discontinued = next(row[2] for row in discover if row[0] not in (erased, unconsenting))
    _append(
        data,
        "erasure_requests",
        [{"tenant_id": "t0002", "customer_id": erased, "requested_at": datetime(2026, 1, 6)}],
    )
    _append(
        data,
        "consents",
        [
            {
                "tenant_id": "t0002",
                "customer_id": unconsenting,
                "personalization": False,
                "marketing": True,
                "updated_at": datetime(2026, 1, 6, 12),
            }
        ],
    )
    _rewrite(
        data,
        "items",
        lambda r: (
            {**r, "is_active": False}
            if (r["tenant_id"], r["item_id"]) == ("t0002", discontinued)
            else r
        ),
    )
    # t0002: a rule the guard refuses; t0003: k out of range; t0001: new purchases
    (data / "rules.csv").write_text(
        "tenant_id,rule_id,action,item_condition,reason\n"
        't0002,hostile,exclude,"category = (select max(category) from items)",testing\n'
    )
    _rewrite(data, "tenants", lambda r: {**r, "k": 0} if r["tenant_id"] == "t0003" else r)
    bought = query(
        db, "select customer_id, item_id from recsql_data.bought_items where tenant_id = 't0001'"
    )
    _append(
        data,
        "interactions",
        [
            {
                "tenant_id": "t0001",
                "customer_id": customer,
                "item_id": item,
                "occurred_at": datetime(2026, 1, 6, 10),
                "event_type": "purchase",
                "quantity": 1,
                "value": 10.0,
            }
            for customer, item in bought[:300]
        ],
    )

    night2 = _build(data, db, "2026-01-07")
    assert night2.returncode == 3, night2.stderr
    lines = night2.stdout.splitlines()
    [refused] = [line for line in lines if line.strip().startswith("t0002 failed:")]
    assert "rule 'hostile'" in refused and "a subquery" in refused
    [rejected] = [line for line in lines if line.strip().startswith("t0003 failed:")]
    assert "invalid k" in rejected
    outcomes = _history(db, "2026-01-07")
    assert (outcomes["t0002"], outcomes["t0003"]) == ("failed", "failed")
    assert outcomes["t0001"] in ("promoted", "kept", "not_due")
    status = {
        tenant: (outcome, str(built))
        for tenant, outcome, built in query(
            db, "select tenant_id, last_outcome, last_built_at from tenant_status"
        )
    }
    assert status["t0002"] == ("failed", "2026-01-05 00:00:00")
    assert status["t0003"] == ("failed", "2026-01-05 00:00:00")
    assert status["t0001"][1] == "2026-01-07 00:00:00"

    # t0003: nothing changed in today's rules: every row as published
    for table in LISTS:
        assert _rows(db, table, "t0003") == before[(table, "t0003")], table

    # t0002: the night-1 rows minus what today's rules forbid, renumbered, no refill
    def allowed(row: tuple, personal_shelf: bool) -> bool:
        customer, item, algorithm = row[0], row[2], row[3]
        if customer == erased or item == discontinued:
            return False
        return not (
            customer == unconsenting
            and (personal_shelf or algorithm not in ("popularity", "trending"))
        )

    for table, personal in (("recommendations", False), ("buy_again", True)):
        expected = _renumbered([r for r in before[(table, "t0002")] if allowed(r, personal)], 1)
        assert _rows(db, table, "t0002") == expected, table
        assert {row[5] for row in expected} == {version_2}
    assert any(row[0] == unconsenting for row in before[("recommendations", "t0002")])
    for table, item_column, group in (
        ("popular_items", 2, 1),
        ("trending_items", 1, 0),
        ("recsql_data.visitor_popular_items", 2, 1),
    ):
        expected = [r for r in before[(table, "t0002")] if r[item_column] != discontinued]
        assert _rows(db, table, "t0002") == _renumbered(expected, group), table
    expected = [r for r in before[("similar_items", "t0002")] if r[2] != discontinued]
    assert _rows(db, "similar_items", "t0002") == _renumbered(expected, 1)
    assert (
        _rows(db, "recsql_data.item_factors", "t0002")
        == before[("recsql_data.item_factors", "t0002")]
    )
    assert any(r[2] == discontinued for r in before[("popular_items", "t0002")])
    # the erased customer is gone from what the macros read too
    assert not query(
        db,
        "select 1 from recsql_data.customer_rule_states where tenant_id = 't0002' "
        "and customer_id = ?",
        [erased],
    )
    # t0001 was built afresh on its new purchases
    assert _rows(db, "recommendations", "t0001") != before[("recommendations", "t0001")]

    # night 3: the inputs fixed, but only t0001 built
    (data / "rules.csv").unlink()
    _rewrite(data, "tenants", lambda r: {**r, "k": None} if r["tenant_id"] == "t0003" else r)
    after_night2 = {(t, n): _rows(db, t, n) for t in LISTS for n in ("t0002", "t0003")}
    with pytest.raises(BuildFailed, match="no input names tenant t9999"):
        build(data, db, as_of="2026-01-08", tenants=["t0001", "t9999"])
    night3 = build(data, db, as_of="2026-01-08", tenants=["t0001"])
    assert night3.failed == []
    assert set(_history(db, "2026-01-08")) == {"t0001"}
    for key, rows in after_night2.items():
        assert _rows(db, *key) == rows, key
    assert dict(query(db, "select tenant_id, last_outcome from tenant_status"))["t0002"] == (
        "failed"
    )

    # night 4: the failed tenants built afresh...
    night4 = build(data, db, as_of="2026-01-09")
    assert night4.failed == []
    assert set(_history(db, "2026-01-09").values()) <= {"promoted", "kept", "not_due"}
    assert not query(
        db,
        "select 1 from recommendations where tenant_id = 't0002' and item_id = ?",
        [discontinued],
    )
    # ... but t0001, whose inputs did not change since night 2 made its lists, keeps them
    assert {
        tenant: str(built)
        for tenant, built in query(db, "select tenant_id, last_built_at from tenant_status")
    } == {
        "t0001": "2026-01-07 00:00:00",
        "t0002": "2026-01-09 00:00:00",
        "t0003": "2026-01-09 00:00:00",
    }
    assert query(
        db, "select tenant_id, carried from build_history where as_of = '2026-01-09' order by 1"
    ) == [("t0001", True), ("t0002", False), ("t0003", False)]

    # night 5: a defect planted in a copy of the project - t0002's fresh lists break a
    # guarantee - and everyone retrained (--retrain all): t0002 alone fails, keeps night 4's
    # lists, and the version trained for it is failed
    before = {(t, "t0002"): _rows(db, t, "t0002") for t in LISTS}
    [(active,)] = query(db, "select active_version from tenant_status where tenant_id = 't0002'")
    project = copy_project(tmp_path / "project")
    served_lists = project / "models" / "lists" / "served_lists.sql"
    served_lists.write_text(served_lists.read_text() + _DEFECT)
    original_project = runner.project_dir
    monkeypatch.setattr(runner, "project_dir", lambda: project)

    night5 = build(data, db, as_of="2026-01-11", retrain="all")
    [(tenant, reason)] = night5.failed
    assert tenant == "t0002"
    assert reason.startswith("a compliance check failed on its fresh lists: ")
    assert "inactive items 1 row(s), e.g. recommendations item" in reason
    for key, rows in before.items():
        assert _rows(db, *key) == rows, key  # nothing changed in today's rules
    # the version trained for it tonight failed, and is not stored; the active one serves on
    registry = dict(
        query(db, "select version, status from model_registry where tenant_id = 't0002'")
    )
    assert registry[active] == "active"
    assert registry[night5.build_id] == "failed"
    assert query(
        db, "select active_version, last_outcome from tenant_status where tenant_id = 't0002'"
    ) == [(active, "failed")]
    assert not query(
        night5.state_path,
        "select 1 from stored_repurchase where tenant_id = 't0002' and version = ?",
        [night5.build_id],
    )

    # night 6: the project as it is, but fitting t0002's models raises
    monkeypatch.setattr(runner, "project_dir", original_project)
    fit = candidates._candidates

    def failing(job, matrix, plan, num_threads):  # type: ignore[no-untyped-def]
        if job.tenant_id == "t0002":
            raise np.linalg.LinAlgError("Singular matrix")
        return fit(job, matrix, plan, num_threads)

    monkeypatch.setattr(candidates, "_candidates", failing)
    night6 = build(data, db, as_of="2026-01-13", retrain="all")
    [(tenant, reason)] = night6.failed
    assert tenant == "t0002"
    assert reason.startswith("fitting its models failed: ")
    assert "LinAlgError: Singular matrix" in reason
    for key, rows in before.items():
        assert _rows(db, *key) == rows, key
    # its failed run was timed like the others: fit_seconds in build_history
    [(seconds,)] = query(
        db,
        "select fit_seconds from build_history where build_id = ? and tenant_id = 't0002'",
        [night6.build_id],
    )
    assert seconds > 0
    [(status,)] = query(
        db,
        "select status from model_registry where tenant_id = 't0002' and version = ?",
        [night6.build_id],
    )
    assert status == "failed"
