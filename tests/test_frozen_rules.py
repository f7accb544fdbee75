"""A frozen tenant under today's rules (issue 12, point 5; docs/lifecycle.md, "Scoring with a
version"): a tenant in mode `freeze` is never retrained and its customers' lists are scored
with its active version from their current histories, "so a customer with no new interactions
keeps the same list, unless today's rules remove an item. Whatever the mode, today's rules
apply: erasures, consents, flags, geo, age, inactive items, custom rules".

One generated tenant, frozen, its champion forced to EASE (docs/lifecycle.md: ALS folds a
customer in from decayed affinities, so time alone moves its scores slightly; EASE's scale as a
whole and keep their order). Night 1 trains its first version (trained once, then frozen).
Night 2, a day later, has no new interaction at all, but today's rules changed:

- the tenant's trending item is made inactive (`items.is_active` false);
- a custom rule of the tenant excludes, for every customer, the category (other than that
  item's) that the fewest customers' lists held on night 1 (`rules.csv`, docs/rules.md);
- one customer withdraws both consents (a later `consents` row).

Its inputs changed, so the tenant is scored again (not carried: docs/lifecycle.md, "Lists kept
while nothing changed"). What is documented, and asserted here:

- not retrained: one version in `model_registry`, night 2's `build_history` row has trigger and
  outcome `frozen`, that version serves every row;
- the inactive item is in no serving object of the tenant; the excluded category is in no list
  made for a person (`recommendations`, `buy_again`, `new_for_you`, the visitors' `popular`
  lists, `recommend_for_items`); `similar_items`, `popular_items` and `trending_items` stay as
  of the version, minus the inactive item (renumbered): custom rules do not apply to them
  (docs/serving.md: `similar_items` "is about items, not people"; `popular_items` is "the
  catalogue's popularity per country (geo restrictions and inactive items applied)");
- the customer without consent gets no rows (views, macros and the Python API);
- every other customer's `recommendations` list is night 1's with the forbidden items removed,
  in the same order, and then **refilled** to its length (docs/rules.md: "Lists are then
  refilled ... so every customer who gets a list gets k items whenever k allowed items
  exist"; a scored tenant is not "held", whose lists get "no re-ranking and no refill"): the
  remaining items are the list's first items, followed by new allowed items. A customer whose
  list held no forbidden item keeps it exactly. `buy_again` is made of the customer's own
  purchases only (models/lists/list_candidates.sql: no fill), so a list shorter than k is
  night 1's minus the forbidden items exactly, and a full one starts with them.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import recsql
from recsql.build import BuildResult, build
from recsql.datasets.generator import generate
from tests.conftest import SERVING, query

pytestmark = pytest.mark.slow

TENANT = "t0001"
NIGHT1, NIGHT2 = "2026-01-01", "2026-01-02"


@dataclass(frozen=True)
class Nights:
    night1: Path  # a copy of the served file after night 1
    night2: Path  # the served file after night 2
    state: Path
    result: BuildResult  # night 2's
    version: str  # the version trained on night 1
    inactive: str  # the item made inactive on night 2
    category: str  # the category the rule excludes on night 2
    excluded: frozenset[str]  # the items of that category
    withdrawn: str  # the customer who withdrew both consents on night 2
    k: int

    @property
    def forbidden(self) -> frozenset[str]:
        return self.excluded | {self.inactive}


def _rewrite(data: Path, table: str, rows: list[dict[str, object]]) -> None:
    schema = pq.read_schema(data / f"{table}.parquet")
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), data / f"{table}.parquet")


def _lists(db: Path, table: str) -> dict[str, list[tuple[str, str]]]:
    """The tenant's served list per customer: (item, reason) in rank order."""
    out: dict[str, list[tuple[str, str]]] = {}
    rows = query(
        db,
        f"select customer_id, rank, item_id, reason from {table} where tenant_id = ? "
        "order by customer_id, rank",
        [TENANT],
    )
    for customer, _, item, reason in rows:
        out.setdefault(customer, []).append((item, reason))
    return out


def _ranked(db: Path, table: str, key: str, item: str, value: str) -> dict[object, list[tuple]]:
    """An item list per ``key`` (item, country): (item, value) in rank order; checks that the
    ranks are 1..n."""
    out: dict[object, list[tuple]] = {}
    rows = query(
        db,
        f"select {key}, rank, {item}, {value} from {table} where tenant_id = ? "
        f"order by {key} nulls first, rank",
        [TENANT],
    )
    for group, rank, member, score in rows:
        out.setdefault(group, []).append((member, score))
        assert rank == len(out[group]), (table, group)
    return out


@pytest.fixture(scope="module")
def nights(tmp_path_factory: pytest.TempPathFactory) -> Nights:
    root = tmp_path_factory.mktemp("frozen_rules")
    data = root / "data"
    generate(data, tenants=1, customers=80, items=40, interactions=1500, seed=11)
    tenants = pq.read_table(data / "tenants.parquet").to_pylist()
    assert [row["tenant_id"] for row in tenants] == [TENANT]
    tenants[0].update(mode="freeze", algorithm="ease")
    _rewrite(data, "tenants", tenants)
    db = root / "shop.duckdb"

    first = build(data, db, as_of=NIGHT1)
    assert first.failed == [] and first.outcomes == {"promoted": 1}
    night1 = root / "night1.duckdb"
    shutil.copy(db, night1)
    [(version, k)] = query(
        night1,
        "select s.active_version, t.k from tenant_status as s join tenant_settings as t "
        "using (tenant_id) where tenant_id = ?",
        [TENANT],
    )

    # today's rules: the trending item inactive, the category fewest lists held excluded,
    # one customer's consents withdrawn; no interaction added
    [(inactive,)] = query(
        night1, "select item_id from trending_items where tenant_id = ? and rank = 1", [TENANT]
    )
    [(category,)] = query(
        night1,
        "select i.category "
        "from recommendations as r join recsql_data.item_rule_states as i using (tenant_id, "
        "item_id) where r.tenant_id = ? and i.category <> (select category from "
        "recsql_data.item_rule_states where tenant_id = ? and item_id = ?) "
        "group by i.category order by count(distinct r.customer_id), i.category limit 1",
        [TENANT, TENANT, inactive],
    )
    [(all_of_category,)] = query(
        night1,
        "select list_sort(list(item_id)) from recsql_data.item_rule_states "
        "where tenant_id = ? and category = ?",
        [TENANT, category],
    )
    [(withdrawn,)] = query(
        night1,
        "select customer_id from recommendations where tenant_id = ? intersect "
        "select customer_id from buy_again where tenant_id = ? order by 1 limit 1",
        [TENANT, TENANT],
    )
    items = pq.read_table(data / "items.parquet").to_pylist()
    for row in items:
        if row["item_id"] == inactive:
            row["is_active"] = False
    _rewrite(data, "items", items)
    (data / "rules.csv").write_text(
        "tenant_id,rule_id,action,customer_condition,item_condition,value,reason,enabled\n"
        f"{TENANT},no_{category.replace(' ', '_')},exclude,,category = '{category}',,"
        "no longer offered,true\n"
    )
    consents = pq.read_table(data / "consents.parquet").to_pylist()
    consents.append(
        {
            "tenant_id": TENANT,
            "customer_id": withdrawn,
            "personalization": False,
            "marketing": False,
            "updated_at": datetime(2026, 1, 1, 12),
        }
    )
    _rewrite(data, "consents", consents)

    second = build(data, db, as_of=NIGHT2)
    return Nights(
        night1=night1,
        night2=db,
        state=db.with_name("shop.state.duckdb"),
        result=second,
        version=version,
        inactive=inactive,
        category=category,
        excluded=frozenset(all_of_category),
        withdrawn=withdrawn,
        k=k,
    )


def test_the_world_exercises_the_rules(nights: Nights) -> None:
    """The items chosen are served on night 1 where night 2 must remove them."""
    n1 = nights.night1
    for table, column in (
        ("recommendations", "item_id"),
        ("popular_items", "item_id"),
        ("similar_items", "similar_item_id"),
        ("trending_items", "item_id"),
    ):
        [(count,)] = query(
            n1, f"select count(*) from {table} where {column} = ?", [nights.inactive]
        )
        assert count > 0, table
    [(count,)] = query(
        n1,
        "select count(*) from recommendations where item_id in (select unnest(?))",
        [sorted(nights.excluded)],
    )
    assert count > 0
    assert nights.inactive not in nights.excluded
    # no new interaction on night 2: what each customer bought is night 1's
    bought = "select customer_id, item_id from recsql_data.bought_items order by all"
    assert query(nights.night2, bought) == query(n1, bought)
    # some customers' lists held a forbidden item, some did not
    lists = _lists(n1, "recommendations")
    touched = {c for c, items in lists.items() if {i for i, _ in items} & nights.forbidden}
    assert 0 < len(touched) < len(lists) - 1


def test_a_frozen_tenant_is_not_retrained(nights: Nights) -> None:
    n2 = nights.night2
    assert nights.result.failed == []
    assert nights.result.outcomes == {"frozen": 1}
    assert query(
        n2, "select version, status from model_registry where tenant_id = ?", [TENANT]
    ) == [(nights.version, "active")]
    history = query(
        n2,
        "select as_of::date::varchar, trigger, outcome, version, carried from build_history "
        "where tenant_id = ? order by as_of",
        [TENANT],
    )
    assert history == [
        (NIGHT1, "first_version", "promoted", nights.version, False),
        # its inputs changed: scored with its version, not carried
        (NIGHT2, "frozen", "frozen", nights.version, False),
    ]
    assert query(
        n2,
        "select mode, active_version, last_outcome, last_built_at::date::varchar "
        "from tenant_status where tenant_id = ?",
        [TENANT],
    ) == [("freeze", nights.version, "frozen", NIGHT2)]
    # the state stores one model: no version was trained on night 2
    assert query(
        nights.state,
        "select count(distinct version) from stored_repurchase where tenant_id = ?",
        [TENANT],
    ) == [(1,)]
    for table in ("recommendations", "buy_again", "recsql_data.visitor_popular_items"):
        versions = query(
            n2, f"select distinct model_version from {table} where tenant_id = ?", [TENANT]
        )
        assert versions == [(nights.version,)], table


def test_removed_items_are_served_nowhere(nights: Nights) -> None:
    n2 = nights.night2
    # the inactive item: in no list (similar_items lists active items for any item; the
    # ALS item factors fold customers in and are not a list: compared below)
    for table in SERVING:
        if table == "recsql_data.item_factors":
            continue
        column = "similar_item_id" if table == "similar_items" else "item_id"
        [(count,)] = query(
            n2,
            f"select count(*) from {table} where tenant_id = ? and {column} = ?",
            [TENANT, nights.inactive],
        )
        assert count == 0, table
    lists_for_people = (
        "recommendations",
        "buy_again",
        "new_for_you",
        "recsql_data.visitor_popular_items",
    )
    for table in lists_for_people:
        [(count,)] = query(
            n2,
            f"select count(*) from {table} where tenant_id = ? and item_id in (select unnest(?))",
            [TENANT, sorted(nights.forbidden)],
        )
        assert count == 0, table
    # a cart of every item: judged for a visitor, nothing forbidden comes back
    carts = query(
        n2, "select item_id from recsql_data.item_rule_states where tenant_id = ?", [TENANT]
    )
    for (item,) in carts:
        offered = query(n2, "select item_id from recommend_for_items(?, [?], 10)", [TENANT, item])
        assert offered and not {i for (i,) in offered} & nights.forbidden, item


def test_the_customer_without_consent_gets_nothing(nights: Nights) -> None:
    n1, n2, customer = nights.night1, nights.night2, nights.withdrawn
    for table in ("recommendations", "buy_again"):
        assert query(n1, f"select count(*) from {table} where customer_id = ?", [customer]) != [
            (0,)
        ]
    for table in ("recommendations", "buy_again", "new_for_you"):
        assert query(
            n2,
            f"select count(*) from {table} where tenant_id = ? and customer_id = ?",
            [TENANT, customer],
        ) == [(0,)], table
    for macro in ("recommend", "buy_again", "new_for_you"):
        assert query(n2, f"select count(*) from {macro}(?, ?, 10)", [TENANT, customer]) == [(0,)]
    assert query(
        n2,
        "select shelf, withheld_by from recsql_data.customer_shelves "
        "where tenant_id = ? and customer_id = ? order by shelf",
        [TENANT, customer],
    ) == [
        ("buy_again", "no personalization consent"),
        ("discover", "no marketing consent"),
        ("new_for_you", "no marketing consent"),
    ]
    with recsql.open(n2) as recommender:
        assert list(recommender.recommend(TENANT, customer)) == []
        assert list(recommender.buy_again(TENANT, customer)) == []


def test_other_customers_keep_their_lists_minus_the_removed_items(nights: Nights) -> None:
    before, after = (
        _lists(nights.night1, "recommendations"),
        _lists(nights.night2, "recommendations"),
    )
    assert set(after) == set(before) - {nights.withdrawn}
    kept_whole = 0
    for customer, listed in after.items():
        remaining = [row for row in before[customer] if row[0] not in nights.forbidden]
        if remaining == before[customer]:
            assert listed == before[customer], customer
            kept_whole += 1
            continue
        # the remaining items first, in their order and with their reasons; then the refill
        assert listed[: len(remaining)] == remaining, customer
        assert len(listed) == len(before[customer]) == nights.k, customer
        added = [item for item, _ in listed[len(remaining) :]]
        assert not set(added) & (nights.forbidden | {item for item, _ in before[customer]})
        assert len(set(added)) == len(added)
    assert kept_whole > 0

    before, after = _lists(nights.night1, "buy_again"), _lists(nights.night2, "buy_again")
    for customer in set(before) | set(after):
        if customer == nights.withdrawn:
            assert customer not in after
            continue
        remaining = [row for row in before.get(customer, []) if row[0] not in nights.forbidden]
        if len(before[customer]) < nights.k:
            assert after.get(customer, []) == remaining, customer
        else:
            assert after[customer][: len(remaining)] == remaining, customer


def test_what_training_made_stays_as_of_the_version(nights: Nights) -> None:
    """Similar items, popularity, trending and factors are the version's, minus the inactive
    item; the excluded category stays in these item tables (custom rules are for people)."""
    n1, n2, inactive = nights.night1, nights.night2, nights.inactive
    for table, key, item in (
        ("similar_items", "item_id", "similar_item_id"),
        ("popular_items", "country", "item_id"),
        ("trending_items", "tenant_id", "item_id"),
    ):
        before = _ranked(n1, table, key, item, "score")
        after = _ranked(n2, table, key, item, "score")
        expected = {
            group: [row for row in rows if row[0] != inactive] for group, rows in before.items()
        }
        assert after == {group: rows for group, rows in expected.items() if rows}, table
    assert sorted(query(n2, "select * from recsql_data.item_factors")) == sorted(
        query(n1, "select * from recsql_data.item_factors")
    )
    # the visitors' popular lists: night 1's, minus every forbidden item, renumbered
    before = _ranked(n1, "recsql_data.visitor_popular_items", "country", "item_id", "score")
    after = _ranked(n2, "recsql_data.visitor_popular_items", "country", "item_id", "score")
    expected = {
        country: [row for row in rows if row[0] not in nights.forbidden]
        for country, rows in before.items()
    }
    assert after == {country: rows for country, rows in expected.items() if rows}
