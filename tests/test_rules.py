"""Each business rule and each built-in rule against a shop built to exercise it.

Tenant `shop` (k = 4, popularity forced so that the order is known) sells wine (alcohol,
18+), kitchenware, toys (not sold in FR, except the kite), bags (one green, one not) and a lamp
no longer sold. Background customers make the popularity order w1 > k1 > k2 > t1 > t2 > ...;
each test customer has one purchase and one reason to be there. Tenant `other` has the same
items and customers but no restrictions; tenant `strict` (EASE forced) withholds lists from
customers without personalization consent, has a nothing threshold and a sustainability nudge.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from recsql.build import BuildFailed, BuildResult, InputRefused
from tests.conftest import query, write_inputs

pytestmark = pytest.mark.slow

ITEMS = [
    # item_id, name, category, min_age, is_active, sustainability_score, price
    ("w1", "Red wine", "alcohol", 18, True, None, 12),
    ("w2", "White wine", "alcohol", 18, True, None, 11),
    ("k1", "Mug", "kitchen", None, True, 0.5, 4),
    ("k2", "Plate", "kitchen", None, True, 0.5, 5),
    ("k3", "Bowl", "kitchen", None, True, 0.5, 6),
    ("k4", "Jug", "kitchen", None, True, 0.5, 7),
    ("t1", "Robot", "toys", None, True, None, 20),
    ("t2", "Kite", "toys", None, True, None, 9),
    ("g1", "Lamp", "garden", None, False, None, 30),
    ("e1", "Jute bag", "bags", None, True, 0.9, 3),
    ("e2", "Plastic bag", "bags", None, True, 0.1, 1),
    ("x1", "Gift card", "cards", None, False, 0.1, 10),  # history only: never served
]
# How many background customers buy each item: the popularity order.
POPULARITY = {
    "w1": 14,
    "k1": 12,
    "k2": 11,
    "t1": 10,
    "t2": 9,
    "e2": 8,
    "k3": 7,
    "w2": 5,
    "e1": 4,
    "g1": 3,
}

# customer_id, country, birth_date, segment, item bought (everyone on the same day, so that the
# time decay treats all purchases alike and the order is the number of buyers)
CUSTOMERS = [
    ("adult", "DE", "1980-01-01", "", "x1"),
    ("minor", "DE", "2015-01-01", "", "x1"),
    ("no_birth_date", "DE", "", "", "x1"),
    ("flagged", "DE", "1980-01-01", "", "x1"),
    ("french", "FR", "1980-01-01", "", "x1"),
    ("no_country", "", "1980-01-01", "", "x1"),
    ("no_marketing", "DE", "1980-01-01", "", "x1"),
    ("no_personalization", "DE", "1980-01-01", "", "x1"),
    ("changed_mind", "DE", "1980-01-01", "", "x1"),
    ("erased", "DE", "1980-01-01", "", "e1"),
    ("kitchen_only", "DE", "1980-01-01", "kitchen_only", "x1"),
    ("opted_out", "DE", "1980-01-01", "opted_out", "x1"),
    ("capped", "DE", "1980-01-01", "capped", "x1"),
    ("promo", "DE", "1980-01-01", "promo", "x1"),
    ("green", "DE", "1980-01-01", "", "x1"),
    ("newcomer", "DE", "1980-01-01", "", None),
]

RULES = [
    # tenant_id, rule_id, action, customer_condition, item_condition, value, reason
    (
        "*",
        "no_alcohol",
        "exclude",
        "list_contains(flags, 'no_alcohol')",
        "category = 'alcohol'",
        "",
        "ethics: no alcohol for customers flagged",
    ),
    (
        "shop",
        "kitchen_only",
        "include_only",
        "segment = 'kitchen_only'",
        "category = 'kitchen'",
        "",
        "a kitchen-only campaign",
    ),
    ("shop", "opted_out", "nothing", "segment = 'opted_out'", "", "", "asked for nothing"),
    (
        "shop",
        "one_kitchen",
        "cap",
        "segment = 'capped'",
        "category = 'kitchen'",
        "1",
        "against the filter bubble",
    ),
    (
        "shop",
        "toy_week",
        "boost",
        "segment = 'promo'",
        "category = 'toys'",
        "100",
        "toy week promotion",
    ),
    (
        "shop",
        "disabled",
        "exclude",
        "",
        "",
        "",
        "switched off",
    ),
]


def _csv(header: str, rows) -> str:
    return (
        header
        + "\n"
        + "".join(",".join("" if v is None else str(v) for v in r) + "\n" for r in rows)
    )


def _inputs(root: Path) -> Path:
    tenants = ("shop", "other", "strict")
    interactions, customers, consents, flags = [], [], [], []
    for tenant in tenants:
        for item, buyers in POPULARITY.items():
            for b in range(buyers):
                interactions.append((tenant, f"bg{b}", item, "2025-06-01 10:00:00"))
        for customer, country, birth, segment, item in CUSTOMERS:
            if item:
                interactions.append((tenant, customer, item, "2025-06-01 10:00:00"))
            customers.append((tenant, customer, country, birth, segment))
        for b in range(max(POPULARITY.values())):
            customers.append((tenant, f"bg{b}", "DE", "1970-01-01", ""))
        consents += [
            (tenant, "no_marketing", "true", "false", "2025-01-01"),
            (tenant, "no_personalization", "false", "true", "2025-01-01"),
            (tenant, "changed_mind", "true", "false", "2025-01-01"),
            (tenant, "changed_mind", "true", "true", "2025-05-01"),
        ]
        flags.append((tenant, "flagged", "no_alcohol"))
    files = {
        "tenants.csv": "tenant_id,k,algorithm,no_consent_list,sustainability_nudge,"
        "nothing_threshold\nshop,4,popularity,popular,0,\nother,4,popularity,popular,0,\n"
        "strict,4,ease,nothing,0.5,1e9\n",
        "items.csv": _csv(
            "tenant_id,item_id,name,category,min_age,is_active,sustainability_score,price",
            [(t, *item) for t in tenants for item in ITEMS],
        ),
        "interactions.csv": _csv("tenant_id,customer_id,item_id,occurred_at", interactions),
        "customers.csv": _csv("tenant_id,customer_id,country,birth_date,segment", customers),
        "consents.csv": _csv(
            "tenant_id,customer_id,personalization,marketing,updated_at", consents
        ),
        "customer_flags.csv": _csv("tenant_id,customer_id,flag", flags),
        "erasure_requests.csv": _csv(
            "tenant_id,customer_id,requested_at", [(t, "erased", "2025-07-01") for t in tenants]
        ),
        "item_restrictions.csv": _csv(
            "tenant_id,item_id,category,country,allowed",
            [
                ("shop", "", "toys", "FR", "false"),
                ("shop", "t2", "", "FR", "true"),
                ("strict", "", "toys", "FR", "false"),
            ],
        ),
        "rules.csv": _csv(
            "tenant_id,rule_id,action,customer_condition,item_condition,value,reason,enabled",
            [
                (
                    *r[:3],
                    f'"{r[3]}"',
                    f'"{r[4]}"',
                    *r[5:],
                    "false" if r[1] == "disabled" else "true",
                )
                for r in RULES
            ],
        ),
    }
    return write_inputs(root / "data", files)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, build_inputs) -> BuildResult:
    root = tmp_path_factory.mktemp("rules")
    return build_inputs(_inputs(root), root / "recsql.duckdb")


def items_of(built: BuildResult, view: str, customer: str, tenant: str = "shop") -> list[str]:
    return [
        row[0]
        for row in query(
            built.db_path,
            f"select item_id from {view} where tenant_id = ? and customer_id = ? order by rank",
            [tenant, customer],
        )
    ]


CATEGORY = {item[0]: item[2] for item in ITEMS}


def test_a_customer_with_nothing_against_them_gets_the_most_popular_items(built) -> None:
    assert items_of(built, "recommendations", "adult") == ["w1", "k1", "k2", "t1"]


@pytest.mark.parametrize("customer", ["minor", "no_birth_date"])
def test_age_limits_hide_alcohol_from_minors_and_unknown_ages(built, customer: str) -> None:
    assert items_of(built, "recommendations", customer) == ["k1", "k2", "t1", "t2"]


def test_an_ethics_rule_for_every_tenant_applies_in_each(built: BuildResult) -> None:
    for tenant in ("shop", "other"):
        assert items_of(built, "recommendations", "flagged", tenant) == ["k1", "k2", "t1", "t2"]


def test_geo_restrictions_by_category_with_an_item_override(built: BuildResult) -> None:
    # toys are not sold in FR, but the kite is; tenant other restricts nothing
    assert items_of(built, "recommendations", "french") == ["w1", "k1", "k2", "t2"]
    assert items_of(built, "recommendations", "french", "other") == ["w1", "k1", "k2", "t1"]


def test_a_customer_of_unknown_country_gets_nothing_restricted_anywhere(built) -> None:
    # t1 is restricted in FR; t2's restriction is overridden, so it is restricted nowhere
    assert items_of(built, "recommendations", "no_country") == ["w1", "k1", "k2", "t2"]


def test_inactive_items_are_never_served(built: BuildResult) -> None:
    [(served,)] = query(built.db_path, "select count(*) from recommendations where item_id = 'g1'")
    [(popular,)] = query(built.db_path, "select count(*) from popular_items where item_id = 'g1'")
    assert served == popular == 0


def test_bought_items_are_not_rediscovered(built: BuildResult) -> None:
    [(bought,)] = query(
        built.db_path,
        "select count(*) from recommendations where customer_id = 'adult' and item_id = 'k4'",
    )
    assert bought == 0
    [(bought,)] = query(built.db_path, "select count(*) from recommendations where item_id = 'x1'")
    assert bought == 0


def test_consents_latest_row_wins(built: BuildResult) -> None:
    assert items_of(built, "recommendations", "no_marketing") == []  # a push list
    [(bought,)] = query(
        built.build_db,
        "select count(*) from lists.list_candidates "
        "where customer_id = 'no_marketing' and shelf = 'buy_again'",
    )
    assert bought == 3  # x1 in each tenant: judged for buy_again (inactive, so not served)
    assert len(items_of(built, "recommendations", "changed_mind")) == 4


def test_without_personalization_consent_only_popular_items_or_nothing(built) -> None:
    rows = query(
        built.db_path,
        "select algorithm from recommendations "
        "where tenant_id = 'shop' and customer_id = 'no_personalization'",
    )
    assert len(rows) == 4 and {a for (a,) in rows} <= {"popularity", "trending"}
    assert items_of(built, "buy_again", "no_personalization") == []
    assert items_of(built, "recommendations", "no_personalization", "strict") == []


def test_an_erased_customer_is_gone_and_counts_for_nobody(built: BuildResult) -> None:
    for view in ("recommendations", "buy_again"):
        assert items_of(built, view, "erased") == []
    # e1 was bought by 4 background customers and by the erased one: 4 buyers remain.
    [(buyers,)] = query(
        built.build_db,
        "select buyers from engine.item_popularity where tenant_id = 'shop' and fold = 'full' "
        "and country is null and item_id = 'e1'",
    )
    assert buyers == 4
    [(states,)] = query(built.db_path, "select count(*) from rule_decisions where rule = 'erased'")
    assert states == 0


def test_include_only_limits_a_customer_to_its_items(built: BuildResult) -> None:
    # k4, which nobody bought, comes from the refill of the list
    assert items_of(built, "recommendations", "kitchen_only") == ["k1", "k2", "k3", "k4"]


def test_a_nothing_rule_withholds_both_shelves(built: BuildResult) -> None:
    assert items_of(built, "recommendations", "opted_out") == []
    assert items_of(built, "buy_again", "opted_out") == []
    assert len(items_of(built, "recommendations", "opted_out", "other")) == 4  # shop's rule


def test_a_cap_keeps_one_kitchen_item_and_the_list_is_refilled(built: BuildResult) -> None:
    # adult gets w1 k1 k2 t1; at most one kitchen item leaves w1 k1 t1 and refills t2
    assert items_of(built, "recommendations", "capped") == ["w1", "k1", "t1", "t2"]


def test_a_boost_puts_the_promoted_items_first(built: BuildResult) -> None:
    # Boosts reorder the candidates; they do not pull in items from outside them (t2 is past
    # the popular items the list draws from, after the gift card everyone bought).
    assert items_of(built, "recommendations", "promo") == ["t1", "w1", "k1", "k2"]


def test_the_sustainability_nudge_favours_greener_items(built: BuildResult) -> None:
    """green bought only the gift card (0.1): in `strict` (nudge 0.5) greener items get +50%;
    in `shop` (nudge 0) nothing changes."""
    rows = dict(
        query(
            built.build_db,
            "select tenant_id || ':' || item_id, nudge from lists.list_candidates "
            "where customer_id = 'green' and shelf = 'discover' and item_id in ('k1', 'w1')",
        )
    )
    assert rows["strict:k1"] == 1.5  # 0.5 > 0.1
    assert rows["strict:w1"] == 1.0  # no sustainability score: no nudge
    assert rows["shop:k1"] == 1.0


def test_a_disabled_rule_does_nothing(built: BuildResult) -> None:
    assert query(
        built.build_db, "select count(*) from rules.rules_guarded where rule_id = 'disabled'"
    ) == [(0,)]


def test_the_nothing_threshold_withholds_personalized_lists_only(built: BuildResult) -> None:
    """strict: no customer's best personalized candidate reaches 1e9: those with one get no
    list; a customer with no personalized candidate keeps the popular list."""
    decided = dict(
        query(
            built.build_db,
            "select customer_id, bool_or(source_order = 1) from lists.list_candidates "
            "where tenant_id = 'strict' and shelf = 'discover' and list_position is not null "
            "group by customer_id",
        )
    )
    assert any(decided.values())
    for customer, personalized in decided.items():
        served = items_of(built, "recommendations", customer, "strict")
        if personalized:
            assert served == [], customer
        elif customer.startswith("bg"):  # bought almost everything: fewer than k items left
            assert 0 < len(served) < 4, customer
        else:
            assert len(served) == 4, customer


def test_rule_decisions_account_for_each_rule(built: BuildResult) -> None:
    decisions = {
        (rule, action): customers
        for rule, action, customers in query(
            built.db_path,
            "select rule, action, customers from rule_decisions "
            "where tenant_id = 'shop' and shelf = 'discover'",
        )
    }
    assert decisions[("*:no_alcohol", "removed")] == 1
    assert decisions[("age limit", "removed")] == 1
    assert decisions[("age limit (age unknown)", "removed")] == 1
    assert decisions[("geo restriction", "removed")] == 1
    assert decisions[("shop:toy_week", "boosted")] == 1
    assert decisions[("shop:opted_out", "withheld")] == 1
    assert decisions[("no marketing consent", "withheld")] == 1
    assert ("shop:one_kitchen", "capped") in decisions
    assert ("shop:kitchen_only", "removed") in decisions


def test_every_list_is_full_when_enough_allowed_items_exist(built: BuildResult) -> None:
    rows = query(
        built.build_db,
        "select d.tenant_id, d.customer_id, count(r.item_id) from "
        "rules.customer_shelves as d left join serving.recommendations as r "
        "using (tenant_id, customer_id) where d.shelf = 'discover' and d.withheld_by is null "
        "and d.tenant_id <> 'strict' and d.customer_id not like 'bg%' group by all",
    )  # (the background customers bought almost everything: fewer than k items are left)
    assert rows and all(n == 4 for _, _, n in rows)


@pytest.mark.parametrize(
    ("condition", "offending"),
    [
        ("category = (select max(category) from items)", "a subquery"),
        ("read_csv('/etc/passwd') is not null", "read_csv"),
        ("category = 'x'; drop table items", "second statement"),
        ("price", "cannot be evaluated"),  # allowed syntax, but not a boolean
    ],
)
def test_a_rule_for_every_tenant_that_cannot_run_stops_the_build_and_publishes_nothing(
    tmp_path: Path, build_inputs, condition: str, offending: str
) -> None:
    # (a tenant's own such rule fails only that tenant: tests/test_tenant_failures.py)
    data = write_inputs(
        tmp_path / "data",
        {
            "interactions.csv": "customer_id,item_id,occurred_at\nc1,i1,2025-01-01\n",
            "items.csv": "item_id,category,price\ni1,toys,3\n",
            "rules.csv": "tenant_id,rule_id,action,item_condition,reason\n"
            f'*,hostile,exclude,"{condition}",testing the guard\n',
        },
    )
    served = tmp_path / "recsql.duckdb"
    served.write_bytes(b"the served database")
    with pytest.raises(BuildFailed) as failed:
        build_inputs(data, served)
    assert isinstance(failed.value, InputRefused)  # recsql build exits 2: an input error
    message = str(failed.value)
    assert "rule 'hostile' of tenant '*'" in message and offending in message
    assert "Traceback" not in message
    assert served.read_bytes() == b"the served database"
