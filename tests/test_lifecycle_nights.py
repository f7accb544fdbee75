"""The tenant lifecycle over several nights of a generated world (docs/lifecycle.md): what each
build trains and what it serves from the stored versions.

Three tenants: t0001 `on`, retrained nightly, its champion forced to popularity (so that the
test knows what each of its versions recommends), t0002 `freeze`, t0003 `on` with
retrain_every_days 7. The nights walk: a first build (every tenant's first version, active at
once); a night where some customers bought new items and many bought one unpopular item (t0001
retrained: a candidate, while its active version serves; the frozen t0002 and the quiet t0003
served by their stored versions: their lists unchanged for every customer without new
interactions, and following the new purchases of the others; t0003, whose inputs did not
change at all, keeps its published lists without being scored); t0003 switched off and an
erasure request for a frozen customer (t0002 retrained once and active at once, t0003 in no
serving object, still in the registry, t0001's candidate still waiting for buyers); t0003 back
on (its kept version serves again) and customers buy what only the candidate ranks high
(promoted); a burst of another item makes a candidate that ranks it first, and customers buy
what the active version ranks first (rejected); an operator who pins t0001 to an older version
(served by the next build, which `--retrain all` retrains otherwise; not trained while pinned)
and unpins it.
"""

from __future__ import annotations

import json
import math
import shutil
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recsql.build import build
from recsql.datasets.generator import generate
from recsql.lifecycle import state
from tests.conftest import SERVING, query, run_recsql

pytestmark = pytest.mark.slow

#: What every night's build compares: the served rows that must not change for a customer
#: whose history did not (scores move with time decay; the items, order and reasons do not).
LIST = "select customer_id, rank, item_id, reason from {table} where tenant_id = ?"


def _tenants(data: Path, **columns: dict[str, object]) -> None:
    """Set columns of tenants.parquet, by tenant."""
    rows = pq.read_table(data / "tenants.parquet").to_pylist()
    for row in rows:
        for name, values in columns.items():
            if row["tenant_id"] in values:
                row[name] = values[row["tenant_id"]]
    names = list(dict.fromkeys(name for row in rows for name in row))
    pq.write_table(
        pa.Table.from_pylist([{n: r.get(n) for n in names} for r in rows]), data / "tenants.parquet"
    )


def _append(data: Path, table: str, rows: list[dict[str, object]]) -> None:
    existing = pq.read_table(data / f"{table}.parquet")
    added = pa.Table.from_pylist(rows, schema=existing.schema)
    pq.write_table(pa.concat_tables([existing, added]), data / f"{table}.parquet")


def _buy(data: Path, tenant: str, bought: list[tuple[str, str]], at: datetime) -> None:
    """Customers of ``tenant`` buy items: (customer, item) pairs."""
    _append(
        data,
        "interactions",
        [
            {
                "tenant_id": tenant,
                "customer_id": customer,
                "item_id": item,
                "occurred_at": at,
                "event_type": "purchase",
                "quantity": 1,
                "value": 10.0,
            }
            for customer, item in bought
        ],
    )


def _popularity(db: Path, tenant: str, version: str) -> list[str]:
    """A version's items, most popular first (the tenant's, as the state stores them)."""
    state_db = duckdb.connect(str(db.with_name("shop.state.duckdb")), read_only=True)
    try:
        rows = state_db.execute(
            "select item_id from stored_popularity where tenant_id = ? and version = ? "
            "and country is null order by popularity_rank",
            [tenant, version],
        ).fetchall()
    finally:
        state_db.close()
    return [item for (item,) in rows]


def _bought(db: Path, tenant: str) -> dict[str, set[str]]:
    """What each customer of ``tenant`` has bought, as the served file says."""
    out: dict[str, set[str]] = {}
    for customer, item in query(
        db,
        "select customer_id, item_id from recsql_data.bought_items where tenant_id = ?",
        [tenant],
    ):
        out.setdefault(customer, set()).add(item)
    return out


def _ndcg(ranking: list[str], bought: dict[str, set[str]], new: dict[str, str], k: int) -> float:
    """What the promotion gate must measure for a popularity version (``ranking``): the mean
    NDCG@k of the lists it makes for customers who then bought one new item each (``new``)."""
    total = 0.0
    for customer, item in new.items():
        listed = [i for i in ranking if i not in bought[customer]][:k]
        total += 1 / math.log2(listed.index(item) + 2) if item in listed else 0.0
    return total / len(new)


def _registry(db: Path, tenant: str, version: str) -> tuple[str, float, float, str]:
    [row] = query(
        db,
        "select status, ndcg, active_ndcg, reason from model_registry "
        "where tenant_id = ? and version = ?",
        [tenant, version],
    )
    return row


def _night(data: Path, db: Path, as_of: str, retrain: str = "due") -> Path:
    """Build ``data`` as of ``as_of``; a copy of the served file, named after the night."""
    result = build(data, db, as_of=as_of, retrain=retrain)
    night = db.with_name(f"{as_of[:10]}.duckdb")
    shutil.copy(db, night)
    assert result.report_path is not None
    shutil.copy(result.report_path, night.with_suffix(".json"))
    return night


def _report(night: Path) -> dict[str, object]:
    """The JSON report of the night's build."""
    return json.loads(night.with_suffix(".json").read_text())


def _history(db: Path, as_of: str) -> dict[str, tuple[str, str, str]]:
    """Per tenant: (trigger, outcome, version) of the build as of ``as_of``."""
    rows = query(
        db,
        "select tenant_id, trigger, outcome, version from build_history where as_of = ?",
        [datetime.fromisoformat(as_of)],
    )
    return {tenant: (trigger, outcome, version) for tenant, trigger, outcome, version in rows}


def _lists(db: Path, table: str, tenant: str) -> dict[str, list[tuple]]:
    """A tenant's served list per customer: (rank, item, reason) rows."""
    out: dict[str, list[tuple]] = {}
    for customer, rank, item, reason in sorted(query(db, LIST.format(table=table), [tenant])):
        out.setdefault(customer, []).append((rank, item, reason))
    return out


def _rows(db: Path, table: str, tenant: str) -> list[tuple]:
    rows = query(db, f"select * exclude (tenant_id) from {table} where tenant_id = ?", [tenant])
    return sorted(rows, key=repr)


def _versions_served(db: Path) -> None:
    """Every served row carries the version tenant_status names active for its tenant."""
    for table in ("recommendations", "buy_again", "recsql_data.visitor_popular_items"):
        wrong = query(
            db,
            f"select distinct s.tenant_id, s.model_version, t.active_version from {table} as s "
            "left join tenant_status as t on s.tenant_id = t.tenant_id "
            "where s.model_version is distinct from t.active_version",
        )
        assert wrong == [], table


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("nights") / "data"
    generate(data, tenants=3, customers=80, items=40, interactions=1500, seed=11)
    _tenants(
        data,
        mode={"t0001": "on", "t0002": "freeze", "t0003": "on"},
        retrain_every_days={"t0001": 1.0, "t0002": 1.0, "t0003": 7.0},
        algorithm={"t0001": "popularity"},
        promotion_min_customers={"t0001": 6},
    )
    return data


def test_nights_of_a_fleet(world: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(world, data)
    db = tmp_path / "shop.duckdb"

    # night 1: every tenant's first version, the frozen one included (trained once)
    night1 = _night(data, db, "2026-01-01")
    first = _history(night1, "2026-01-01")
    assert {t: h[:2] for t, h in first.items()} == {
        t: ("first_version", "promoted") for t in ("t0001", "t0002", "t0003")
    }
    v1 = first["t0001"][2]
    _versions_served(night1)

    # night 2: three customers of t0001 and of t0002 buy the first two items of their list;
    # 20 customers of t0001 buy its least popular item
    movers = query(
        night1,
        "select tenant_id, customer_id, item_id from recommendations where rank <= 2 and "
        "tenant_id in ('t0001', 't0002') and customer_id in (select distinct customer_id from "
        "recommendations as r where r.tenant_id = recommendations.tenant_id order by 1 limit 3)",
    )
    assert len(movers) == 12
    for tenant in ("t0001", "t0002"):
        _buy(data, tenant, [(c, i) for t, c, i in movers if t == tenant], datetime(2026, 1, 1, 12))
    rising = _popularity(db, "t0001", v1)[-1]
    bought = _bought(night1, "t0001")
    burst = sorted(c for c in bought if rising not in bought[c])[:20]
    _buy(data, "t0001", [(c, rising) for c in burst], datetime(2026, 1, 1, 13))
    night2 = _night(data, db, "2026-01-02")
    second = _history(night2, "2026-01-02")
    # t0001 retrained: a candidate; its active version serves until the gate judges it
    assert second["t0001"] == ("age", "kept", v1)
    candidate = query(night2, "select version from model_registry where status = 'candidate'")
    [(v2,)] = candidate
    assert _registry(night2, "t0001", v2)[0] == "candidate"
    assert second["t0002"] == ("frozen", "frozen", v1)
    assert second["t0003"] == ("not_due", "not_due", v1)
    _versions_served(night2)
    # nothing of t0003 changed: it kept its published lists, row for row, without being scored
    assert query(
        night2,
        "select tenant_id, carried from build_history where as_of = '2026-01-02' order by 1",
    ) == [("t0001", False), ("t0002", False), ("t0003", True)]
    for table in SERVING:
        assert _rows(night2, table, "t0003") == _rows(night1, table, "t0003"), table
    assert query(
        night2, "select tenant_id, last_built_at::date::varchar from tenant_status order by 1"
    ) == [("t0001", "2026-01-02"), ("t0002", "2026-01-02"), ("t0003", "2026-01-01")]
    moved = {(tenant, customer) for tenant, customer, _ in movers}
    for tenant in ("t0002", "t0003"):
        # served by the stored version: derived lists as of it, customers' lists unchanged
        # unless their history changed
        for table in ("similar_items", "popular_items", "trending_items"):
            assert _rows(night2, table, tenant) == _rows(night1, table, tenant), (tenant, table)
        for table in ("recommendations", "buy_again"):
            before, after = _lists(night1, table, tenant), _lists(night2, table, tenant)
            changed = {c for c in before.keys() | after.keys() if before.get(c) != after.get(c)}
            assert changed <= {c for t, c in moved if t == tenant}, (tenant, table)
    # the candidate ranks the rising item first; the active version, last
    assert _popularity(db, "t0001", v2)[0] == rising
    assert _rows(night2, "popular_items", "t0001") == _rows(night1, "popular_items", "t0001")
    # recsql status counts what each build did
    [latest, _] = state.builds(db.with_name("shop.state.duckdb"), limit=2)
    counts = {key: latest[key] for key in ("tenants", "trained", "not_due", "frozen", "off")}
    assert counts == {"tenants": 3, "trained": 1, "not_due": 1, "frozen": 1, "off": 0}
    # a kept version follows new purchases: what a mover bought is off their discover list
    for tenant, customer, item in movers:
        items = [i for _, i, _ in _lists(night2, "recommendations", tenant)[customer]]
        assert item not in items

    # night 3: t0003 switched off; a customer of the frozen t0002 asks to be forgotten;
    # nobody bought from t0001 since its candidate's data: it waits, and is not retrained
    _tenants(data, mode={"t0003": "off"})
    erased = movers[-1][1]
    _append(
        data,
        "erasure_requests",
        [{"tenant_id": "t0002", "customer_id": erased, "requested_at": datetime(2026, 1, 2, 9)}],
    )
    night3 = _night(data, db, "2026-01-03")
    third = _history(night3, "2026-01-03")
    assert third["t0002"][:2] == ("erasure", "promoted") and third["t0002"][2] != v1
    assert third["t0001"] == ("awaiting_judgement", "kept", v1)
    assert (
        "0 of promotion_min_customers 6"
        in query(night3, "select last_reason from tenant_status where tenant_id = 't0001'")[0][0]
    )
    assert third["t0003"][:2] == ("off", "off")
    for table in SERVING:
        assert query(night3, f"select count(*) from {table} where tenant_id = 't0003'") == [(0,)]
    assert query(night3, "select count(*) from recommend('t0003', 'c000001', 10)") == [(0,)]
    assert query(
        night3, "select status from model_registry where tenant_id = 't0003' and version = ?", [v1]
    ) == [("active",)]
    assert query(
        night3, "select mode, last_outcome from tenant_status where tenant_id = 't0003'"
    ) == [("off", "off")]
    assert query(
        night3,
        "select count(*) from recommendations where customer_id = ? and tenant_id = 't0002'",
        [erased],
    ) == [(0,)]
    _versions_served(night3)

    # night 4: t0003 back on, its version 3 days old, nothing new: its kept version serves
    # again, as on night 2. Six customers of t0001 buy the rising item, first on the
    # candidate's list and not in the active version's top k: the candidate is promoted
    _tenants(data, mode={"t0003": "on"})
    bought = _bought(night3, "t0001")
    buyers = sorted(c for c in bought if rising not in bought[c])[:6]
    _buy(data, "t0001", [(c, rising) for c in buyers], datetime(2026, 1, 3, 8))
    night4 = _night(data, db, "2026-01-04")
    fourth = _history(night4, "2026-01-04")
    assert fourth["t0001"] == ("promotion", "promoted", v2)
    [(k,)] = query(night4, "select k from tenant_settings where tenant_id = 't0001'")
    new = dict.fromkeys(buyers, rising)
    expected = [_ndcg(_popularity(db, "t0001", v), bought, new, k) for v in (v2, v1)]
    assert expected[0] == 1.0 and expected[1] < 1.0
    status, ndcg, active_ndcg, reason = _registry(night4, "t0001", v2)
    assert status == "active", reason
    assert (ndcg, active_ndcg) == pytest.approx(expected)
    assert reason.startswith(f"promoted: NDCG@{k} 1.0000 > ") and "on 6 customers" in reason
    superseded = _registry(night4, "t0001", v1)
    assert superseded[0] == "superseded"
    assert superseded[1:3] == pytest.approx(expected[::-1])
    # the build's report counts the same
    report = _report(night4)
    assert report["tenants_by_outcome"] == {"frozen": 1, "not_due": 1, "promoted": 1}
    assert report["tenants_by_trigger"] == {"frozen": 1, "not_due": 1, "promotion": 1}
    assert {k: v for k, v in report["versions"].items() if v} == {"active": 1, "superseded": 1}
    assert report["ndcg_drops"] == []
    assert fourth["t0002"] == ("frozen", "frozen", third["t0002"][2])
    assert fourth["t0003"] == ("not_due", "not_due", v1)
    for table in ("recommendations", "buy_again"):
        assert _lists(night4, table, "t0003") == _lists(night2, table, "t0003")
    reason = query(night4, "select last_reason from tenant_status where tenant_id = 't0003'")
    assert "3.0 days old (retrain_every_days 7)" in reason[0][0]
    _versions_served(night4)

    # night 5: most customers of t0001 buy another unpopular item: the new candidate ranks it
    # higher. Night 6: six customers for whom the candidate lists another item first buy the
    # first item the active version lists for them: rejected, the active version stays
    falling = _popularity(db, "t0001", v2)[-1]
    bought = _bought(night4, "t0001")
    burst = sorted(c for c in bought if falling not in bought[c])[6:]
    _buy(data, "t0001", [(c, falling) for c in burst], datetime(2026, 1, 4, 8))
    night5 = _night(data, db, "2026-01-05")
    assert _history(night5, "2026-01-05")["t0001"] == ("age", "kept", v2)
    [(v5,)] = query(night5, "select version from model_registry where status = 'candidate'")
    rankings = {v: _popularity(db, "t0001", v) for v in (v2, v5)}
    assert rankings[v5].index(falling) < rankings[v2].index(falling)
    bought = _bought(night5, "t0001")

    def first(version: str, customer: str) -> str:
        return next(i for i in rankings[version] if i not in bought[customer])

    chosen = [(c, first(v2, c)) for c in sorted(bought) if first(v2, c) != first(v5, c)][:6]
    assert len(chosen) == 6
    _buy(data, "t0001", chosen, datetime(2026, 1, 5, 8))
    night6 = _night(data, db, "2026-01-06")
    assert _history(night6, "2026-01-06")["t0001"] == ("promotion", "kept", v2)
    new = dict(chosen)
    expected = [_ndcg(_popularity(db, "t0001", v), bought, new, k) for v in (v5, v2)]
    assert expected[0] < expected[1] == 1.0
    status, ndcg, active_ndcg, reason = _registry(night6, "t0001", v5)
    assert status == "rejected", reason
    assert (ndcg, active_ndcg) == pytest.approx(expected)
    assert reason.startswith(f"rejected: NDCG@{k}")
    [drop] = _report(night6)["ndcg_drops"]
    assert (drop["tenant_id"], drop["version"], drop["status"]) == ("t0001", v5, "rejected")
    _versions_served(night6)
    # the fleet signal: `recsql status` counts the rejected candidates and names the tenants
    # whose metric dropped, build by build
    shown = run_recsql("status", "--db", str(db), "--json")
    assert shown.returncode == 0, shown.stderr
    signal = [(b["as_of"][:10], b["rejected"], b["ndcg_dropped"]) for b in json.loads(shown.stdout)]
    assert signal[0] == ("2026-01-06", 1, ["t0001"])
    assert all(rejected == 0 for _, rejected, _ in signal[1:])
    table = run_recsql("status", "--db", str(db)).stdout.splitlines()
    assert "rejected" in table[1] and "ndcg down" in table[1]
    assert table[2].rstrip().endswith(" 1  1 (t0001)"), table[2]  # rejected, ndcg down

    # night 7: an operator pinned t0001 to its first version; --retrain all retrains every
    # tenant but the frozen and the pinned one, which the pinned version serves
    models = ("models", "--db", str(db), "--tenant", "t0001")
    pinned = run_recsql(*models[:1], "pin", *models[1:], "--version", v1, "--why", "sold more")
    assert pinned.returncode == 0, pinned.stderr
    night7 = _night(data, db, "2026-01-07", retrain="all")
    seventh = _history(night7, "2026-01-07")
    assert seventh["t0001"] == ("operator", "promoted", v1)
    assert seventh["t0003"] == ("retrain_all", "kept", v1)
    assert seventh["t0002"][:2] == ("frozen", "frozen")
    assert _registry(night7, "t0001", v1)[::3] == ("active", "pinned by the operator: sold more")
    registry = query(
        night7, "select tenant_id, status, count(*) from model_registry group by all order by all"
    )
    assert registry == [
        ("t0001", "active", 1),
        ("t0001", "rejected", 1),
        ("t0001", "superseded", 1),
        ("t0002", "active", 1),
        ("t0002", "superseded", 1),
        ("t0003", "active", 1),
        ("t0003", "candidate", 1),
    ]
    _versions_served(night7)
    # the state keeps the stored models of every version (fewer than keep_versions = 5)
    stored = duckdb.connect(str(db.with_name("shop.state.duckdb")), read_only=True)
    try:
        kept = stored.execute(
            "select count(distinct (tenant_id, version)) from stored_repurchase"
        ).fetchall()
    finally:
        stored.close()
    assert kept == [(7,)]

    # night 8: still pinned, so not trained even by --retrain all; then unpinned
    night8 = _night(data, db, "2026-01-08", retrain="all")
    assert _history(night8, "2026-01-08")["t0001"] == ("pinned", "kept", v1)
    listed = run_recsql("models", "list", *models[1:])
    assert listed.returncode == 0, listed.stderr
    assert f"{v1}" in listed.stdout and "sold more" in listed.stdout
    unpinned = run_recsql(*models[:1], "unpin", *models[1:], "--why", "back to the triggers")
    assert unpinned.returncode == 0, unpinned.stderr
    [t0001] = [
        row
        for row in state.active_rows(
            db.with_name("shop.state.duckdb"), "active_versions"
        ).to_pylist()
        if row["tenant_id"] == "t0001"
    ]
    assert (t0001["version"], t0001["is_pinned"], t0001["operator_action"]) == (v1, False, "unpin")
    # a version that does not exist is refused, naming the tenant; nothing is recorded
    wrong = run_recsql(*models[:1], "pin", *models[1:], "--version", "nope", "--why", "x")
    assert wrong.returncode == 2 and "has no version 'nope'" in wrong.stderr
