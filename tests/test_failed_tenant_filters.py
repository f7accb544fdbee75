"""A failed tenant's held rows under today's geo, age and `*` rules; a bad mode or retraining
trigger setting fails only its tenant (issue 12, point 7 and "Bad input"; docs/lifecycle.md,
"Failures stay with their tenant").

Four generated tenants (a third of t0002's items launched lately and each of its items bought
twice in the last week, so that it has `new_for_you` lists and trending items). Night 1
publishes them all. Night 2, through `recsql build`:

- three tenants' `tenants` rows are rejected, each for one value: t0002 a mode that is not
  on|freeze|off (`paused`), t0003 `retrain_new_data_share` 1.5 (allowed 0..1), t0004
  `retrain_every_days` -1 (allowed >= 0) (docs/contract.md, the tenants table). Each fails
  alone: the build publishes, exits 3, prints one line per failed tenant with its id, the word
  `failed` and the reason, and `build_history` and `tenant_status` say `failed` with that reason
  (`last_built_at` stays night 1's clock); t0001 is built afresh;
- today's rules change so that some of the failed tenants' published rows become forbidden:
  a rule of every tenant (`*`) excludes a category; for t0002, an item is restricted in one
  country (`item_restrictions`, allowed false), and another item gets a `min_age` that some of
  the customers whose lists hold it have reached and others have not (`items.min_age`).

Each failed tenant keeps its night-1 rows minus exactly those today's rules forbid (computed
here from the night-1 file and the inputs, not from recsql's rule states): no re-ranking, no
refill, "the rows keep their order, ranks are renumbered, a list may be shorter". On the lists
made for people (`recommendations`, `buy_again`, `new_for_you`) a row goes when its item is of
the excluded category, or is the restricted item and the customer's country is that country
(or unknown: docs/rules.md, "a customer whose country is unknown gets no item that is not
allowed somewhere"), or is the age-limited item and the customer is younger or of unknown age.
The visitors' popular lists are judged for a visitor of the row's country, whose age is
unknown: the age-limited item goes from every country, the restricted item from that country
and the unknown one. `popular_items` is "the catalogue's popularity per country (geo
restrictions and inactive items applied)" (docs/serving.md): only the restricted item in that
country goes. `similar_items` and `trending_items` (about items, not people) and the item
factors stay as published (no item became inactive), though they hold items today's rules
forbid to people. Every kept row keeps the version that made it; no version is made for a
failed tenant. The test checks that each rule removed rows of t0002 and left those it does
not forbid (the restricted item elsewhere, the age-limited item to customers old enough), and
that some list lost a row before its last kept one (so ranks had to be renumbered).
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recsql.datasets.generator import generate
from tests.conftest import query, run_recsql

pytestmark = pytest.mark.slow

NIGHT_1 = "2026-01-05"
NIGHT_2 = "2026-01-07"
HEALTHY = "t0001"
#: the tenant whose rules change, and what fails each tenant on night 2: (setting, value,
#: what the reason says)
TARGET = "t0002"
BROKEN = {
    "t0002": ("mode", "paused", "invalid mode"),
    "t0003": ("retrain_new_data_share", 1.5, "invalid retrain_new_data_share"),
    "t0004": ("retrain_every_days", -1.0, "invalid retrain_every_days"),
}
#: (list, its columns: customer or country first, then rank, then item)
PERSON_LISTS = {
    "recommendations": "customer_id, rank, item_id, algorithm, reason, model_version",
    "buy_again": "customer_id, rank, item_id, algorithm, reason, model_version",
    "new_for_you": "customer_id, rank, item_id, algorithm, reason, model_version",
}
OTHER_LISTS = {
    "popular_items": "country, rank, item_id, score",
    "recsql_data.visitor_popular_items": "country, rank, item_id, reason, model_version",
    "similar_items": "item_id, rank, similar_item_id, score",
    "trending_items": "rank, item_id, score",
    "recsql_data.item_factors": "item_id, factors",
}
LISTS = {**PERSON_LISTS, **OTHER_LISTS}


def _rows(db: Path, table: str, tenant: str) -> list[tuple]:
    return sorted(
        query(db, f"select {LISTS[table]} from {table} where tenant_id = ?", [tenant]), key=repr
    )


def _renumbered(rows: list[tuple]) -> list[tuple]:
    """``rows`` (a list's key, rank, ...) with ranks 1, 2, ... in their order within each
    list: what is left of a held list once the forbidden rows are dropped."""
    out, seen = [], Counter()
    for row in sorted(rows, key=lambda r: (repr(r[0]), r[1])):
        seen[row[0]] += 1
        out.append((row[0], seen[row[0]], *row[2:]))
    return sorted(out, key=repr)


def _table(data: Path, name: str) -> list[dict]:
    return pq.read_table(data / f"{name}.parquet").to_pylist()


def _write(data: Path, name: str, rows: list[dict], schema: pa.Schema) -> None:
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), data / f"{name}.parquet")


def _age(birth: date | None, on: date) -> int | None:
    """Full years on ``on`` (docs/rules.md: `age`, full years at the build time)."""
    if birth is None:
        return None
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def test_failed_tenants_keep_their_rows_minus_todays_geo_age_and_star_rules(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    generate(data, tenants=4, customers=60, items=30, interactions=800, seed=5)
    # every third item of the target launched lately, so that it has new_for_you lists
    _write(
        data,
        "items",
        [
            {**r, "launched_at": datetime(2025, 12, 20)}
            if r["tenant_id"] == TARGET and int(r["item_id"][1:]) % 3 == 0
            else r
            for r in _table(data, "items")
        ],
        pq.read_schema(data / "items.parquet"),
    )
    # and each of its items bought by two customers in the last week, so that it has trending
    # items (at least two recent buyers: models/engine/item_trends.sql)
    shoppers = sorted(
        r["customer_id"] for r in _table(data, "customers") if r["tenant_id"] == TARGET
    )
    catalogue = sorted(r["item_id"] for r in _table(data, "items") if r["tenant_id"] == TARGET)
    _write(
        data,
        "interactions",
        [
            *_table(data, "interactions"),
            *(
                {
                    "tenant_id": TARGET,
                    "customer_id": shoppers[(2 * n + buyer) % len(shoppers)],
                    "item_id": item,
                    "occurred_at": datetime(2025, 12, 29, 12),
                    "event_type": "purchase",
                    "quantity": 1,
                    "value": 10.0,
                    "session_id": None,
                }
                for n, item in enumerate(catalogue)
                for buyer in (0, 1)
            ),
        ],
        pq.read_schema(data / "interactions.parquet"),
    )
    db = tmp_path / "shop.duckdb"
    night1 = run_recsql("build", "--data", str(data), "--db", str(db), "--as-of", NIGHT_1)
    assert night1.returncode == 0, night1.stdout + night1.stderr
    tenants = [HEALTHY, *BROKEN]
    before = {(t, n): _rows(db, t, n) for t in LISTS for n in tenants}
    versions = dict(query(db, "select tenant_id, active_version from tenant_status"))

    items = {(r["tenant_id"], r["item_id"]): r for r in _table(data, "items")}
    people = {(r["tenant_id"], r["customer_id"]): r for r in _table(data, "customers")}
    today = date.fromisoformat(NIGHT_2)

    def country(tenant: str, customer: str) -> str | None:
        return (people.get((tenant, customer)) or {}).get("country")

    def age(tenant: str, customer: str) -> int | None:
        return _age((people.get((tenant, customer)) or {}).get("birth_date"), today)

    def category(tenant: str, item: str) -> str | None:
        return items[(tenant, item)]["category"]

    discover = before[("recommendations", TARGET)]
    # the `*` rule: the category most often on the target's discover lists that the healthy
    # tenant's lists show too (so its fresh lists show the rule applied)
    healthy_categories = {category(HEALTHY, r[2]) for r in before[("recommendations", HEALTHY)]}
    counts = Counter(category(TARGET, r[2]) for r in discover)
    banned = max((c for c in counts if c in healthy_categories), key=lambda c: (counts[c], c or ""))
    free = [r for r in discover if category(TARGET, r[2]) != banned]

    # the geo restriction: an item on discover lists of customers of one country and of others,
    # preferably on that country's popular list, restricted in that country
    popular_pairs = {(r[0], r[2]) for r in before[("popular_items", TARGET)]}

    def geo_score(pair: tuple[str, str]) -> tuple:
        item, place = pair
        countries = [country(TARGET, r[0]) for r in free if r[2] == item]
        inside = sum(c == place for c in countries)
        outside = sum(c is not None and c != place for c in countries)
        return (min(inside, outside) > 0, (place, item) in popular_pairs, inside, pair)

    pairs = {(r[2], country(TARGET, r[0])) for r in free if country(TARGET, r[0])}
    restricted, place = max(pairs, key=geo_score)
    assert geo_score((restricted, place))[0], "no item for the geo restriction"

    # the age limit: an item without one, on discover lists of customers of different known
    # ages; its min_age is their median age, so the older half keeps it and the younger does not
    def age_candidates(item: str) -> list[int]:
        return sorted({a for r in free if r[2] == item and (a := age(TARGET, r[0])) is not None})

    limited = max(
        (
            r[2]
            for r in free
            if r[2] != restricted
            and items[(TARGET, r[2])]["min_age"] is None
            and len(age_candidates(r[2])) >= 2
        ),
        key=lambda item: (sum(r[2] == item for r in free), item),
    )
    min_age = age_candidates(limited)[len(age_candidates(limited)) // 2]

    # today's inputs: the tenants rows, the rules, the restriction, the age limit
    schema = pq.read_schema(data / "tenants.parquet")
    for setting in ("retrain_new_data_share", "retrain_every_days"):
        schema = schema.append(pa.field(setting, pa.float64()))
    rows = []
    for row in _table(data, "tenants"):
        row = {**row, "retrain_new_data_share": None, "retrain_every_days": None}
        if row["tenant_id"] in BROKEN:
            setting, value, _ = BROKEN[row["tenant_id"]]
            row[setting] = value
        rows.append(row)
    _write(data, "tenants", rows, schema)
    (data / "rules.csv").write_text(
        "tenant_id,rule_id,action,item_condition,reason\n"
        f"*,no_{banned},exclude,category = '{banned}',testing\n"
    )
    _write(
        data,
        "item_restrictions",
        [
            *_table(data, "item_restrictions"),
            {
                "tenant_id": TARGET,
                "item_id": restricted,
                "category": None,
                "country": place,
                "allowed": False,
            },
        ],
        pq.read_schema(data / "item_restrictions.parquet"),
    )
    _write(
        data,
        "items",
        [
            {**r, "min_age": min_age} if (r["tenant_id"], r["item_id"]) == (TARGET, limited) else r
            for r in _table(data, "items")
        ],
        pq.read_schema(data / "items.parquet"),
    )

    night2 = run_recsql("build", "--data", str(data), "--db", str(db), "--as-of", NIGHT_2)

    # (b) each bad value fails its tenant alone, end to end
    assert night2.returncode == 3, night2.stdout + night2.stderr
    lines = night2.stdout.splitlines()
    assert any(f"Published, but {len(BROKEN)} tenant(s) failed" in line for line in lines)
    assert not [line for line in lines if line.strip().startswith(f"{HEALTHY} failed")]
    history = {
        tenant: (outcome, trigger, reason, carried)
        for tenant, outcome, trigger, reason, carried in query(
            db,
            "select tenant_id, outcome, trigger, reason, carried from build_history "
            "where as_of = ?::timestamp",
            [NIGHT_2],
        )
    }
    status = {
        tenant: (outcome, reason, str(built))
        for tenant, outcome, reason, built in query(
            db, "select tenant_id, last_outcome, last_reason, last_built_at from tenant_status"
        )
    }
    for tenant, (_, value, says) in BROKEN.items():
        [line] = [line for line in lines if line.strip().startswith(f"{tenant} failed:")]
        assert says in line and str(value) in line, line
        assert history[tenant][:2] == ("failed", "failed"), history[tenant]
        assert says in history[tenant][2] and history[tenant][2] in line
        assert status[tenant][0] == "failed" and says in status[tenant][1]
        assert status[tenant][2] == f"{NIGHT_1} 00:00:00"
        for other in BROKEN.keys() - {tenant}:
            assert BROKEN[other][2] not in history[tenant][2]
    # neither trained nor scored: the version of night 1 serves on, no version was made
    assert dict(query(db, "select tenant_id, active_version from tenant_status")) == versions
    registry = query(db, "select tenant_id, version from model_registry")
    assert {(t, v) for t, v in registry if t in BROKEN} == {(t, versions[t]) for t in BROKEN}
    # the healthy tenant is built afresh, under today's `*` rule
    assert history[HEALTHY][0] in ("promoted", "kept", "not_due"), history[HEALTHY]
    assert history[HEALTHY][3] is False
    assert status[HEALTHY] == (history[HEALTHY][0], history[HEALTHY][2], f"{NIGHT_2} 00:00:00")
    fresh = _rows(db, "recommendations", HEALTHY)
    assert fresh
    assert any(category(HEALTHY, r[2]) == banned for r in before[("recommendations", HEALTHY)])
    assert not any(category(HEALTHY, r[2]) == banned for r in fresh)

    # (a) each failed tenant: its night-1 rows minus what today's rules forbid
    def person_allows(tenant: str, customer: str, item: str) -> bool:
        if category(tenant, item) == banned:
            return False
        if tenant == TARGET and item == restricted and country(tenant, customer) in (place, None):
            return False
        if tenant == TARGET and item == limited:
            years = age(tenant, customer)
            return years is not None and years >= min_age
        return True

    def visitor_allows(tenant: str, where: str | None, item: str) -> bool:
        if category(tenant, item) == banned:
            return False
        if tenant == TARGET and item == restricted and where in (place, None):
            return False
        return not (tenant == TARGET and item == limited)  # a visitor's age is unknown

    for tenant in BROKEN:
        for table in PERSON_LISTS:
            kept = [r for r in before[(table, tenant)] if person_allows(tenant, r[0], r[2])]
            assert _rows(db, table, tenant) == _renumbered(kept), (tenant, table)
            assert {r[5] for r in kept} <= {versions[tenant]}
        visitors = before[("recsql_data.visitor_popular_items", tenant)]
        kept = [r for r in visitors if visitor_allows(tenant, r[0], r[2])]
        assert _rows(db, "recsql_data.visitor_popular_items", tenant) == _renumbered(kept), tenant
        popular = before[("popular_items", tenant)]
        kept = [
            r for r in popular if not (tenant == TARGET and (r[0], r[2]) == (place, restricted))
        ]
        assert _rows(db, "popular_items", tenant) == _renumbered(kept), tenant
        for table in ("similar_items", "trending_items", "recsql_data.item_factors"):
            assert _rows(db, table, tenant) == before[(table, tenant)], (tenant, table)

    # the known answers are not vacuous: on the target's discover lists each of today's rules
    # removed rows and left those it does not forbid (the restricted item to customers of other
    # countries, the age-limited item to those old enough); some lists lost a row before their
    # last kept one (renumbered); the visitors lost the age-limited item everywhere
    served = _rows(db, "recommendations", TARGET)
    gone = [r for r in discover if not person_allows(TARGET, r[0], r[2])]
    assert any(category(TARGET, r[2]) == banned for r in gone)
    assert any(r[2] == restricted and country(TARGET, r[0]) == place for r in gone)
    assert any(r[2] == limited and age(TARGET, r[0]) is not None for r in gone)
    assert any(r[2] == restricted and country(TARGET, r[0]) not in (place, None) for r in served)
    assert any(r[2] == limited and (age(TARGET, r[0]) or 0) >= min_age for r in served)
    last_kept = {r[0]: r[1] for r in sorted(discover, key=lambda r: r[1]) if r not in gone}
    assert any(r[1] < last_kept.get(r[0], 0) for r in gone)
    for table in PERSON_LISTS:
        published = before[(table, TARGET)]
        assert 0 < len(_rows(db, table, TARGET)) < len(published), table
    assert any(category("t0003", r[2]) == banned for r in before[("recommendations", "t0003")])
    visitors = before[("recsql_data.visitor_popular_items", TARGET)]
    assert any(r[2] == limited for r in visitors)
    assert any(category(TARGET, r[2]) == banned for r in visitors)
    assert any(r[2] == restricted and r[0] == place for r in visitors)
    assert any(r[2] == restricted for r in before[("popular_items", TARGET)] if r[0] == place)
    trending = {r[1] for r in before[("trending_items", TARGET)]}
    assert {restricted, limited} & trending
    assert any(category(TARGET, item) == banned for item in trending)
