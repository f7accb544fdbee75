"""Serving: the Python API (recsql.open) and the table macros, against the shop of the rules
tests (tests/test_rules.py), whose right answers are known.

In tenant `shop`: wine is alcohol and 18+, toys are not sold in FR (the kite is), the lamp and
the gift card are inactive; `flagged` may not be offered alcohol; `kitchen_only` only gets
kitchenware; `capped` at most one kitchen item; `opted_out` and `no_marketing` get no discover
list; `no_personalization` gets popular items only.
"""

from __future__ import annotations

import itertools
import os
import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

import recsql
from recsql.build import BuildResult
from recsql.rules import verdicts
from recsql.serving import Recommendation, Recommender, RecsqlError
from tests.conftest import query
from tests.test_rules import CUSTOMERS, _inputs

pytestmark = pytest.mark.slow

ALCOHOL, KITCHEN = {"w1", "w2"}, {"k1", "k2", "k3", "k4"}
INACTIVE = {"g1", "x1"}
#: What a visitor of unknown country and age may be shown: no age limit, no geo restriction
#: (the kite is allowed in FR, its only restricted country).
VISITOR_ALLOWED = {"k1", "k2", "k3", "k4", "e1", "e2", "t2"}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, build_inputs) -> BuildResult:
    root = tmp_path_factory.mktemp("serving")
    return build_inputs(_inputs(root), root / "recsql.duckdb")


@pytest.fixture(scope="module")
def api(built: BuildResult) -> Recommender:
    with recsql.open(built.db_path) as recommender:
        yield recommender


def items(rows) -> list[str]:
    return [r.item_id for r in rows]


def view_list(built: BuildResult, view: str, customer: str, tenant: str = "shop") -> list[tuple]:
    return query(
        built.db_path,
        f"select rank, item_id, score, reason, algorithm from {view} "
        "where tenant_id = ? and customer_id = ? order by rank",
        [tenant, customer],
    )


def test_a_known_customer_gets_the_published_lists(api: Recommender, built: BuildResult) -> None:
    for tenant in ("shop", "other", "strict"):
        for customer, *_ in CUSTOMERS:
            for shelf, view in ((api.recommend, "recommendations"), (api.buy_again, "buy_again")):
                rows = view_list(built, view, customer, tenant)
                assert shelf(tenant, customer) == [Recommendation(*r) for r in rows], view
    assert items(api.recommend("shop", "adult", k=2)) == items(api.recommend("shop", "adult"))[:2]


def macro_list(built: BuildResult, sql: str, params: list) -> list[tuple[str, str]]:
    return [
        (item, reason)
        for item, reason in query(built.db_path, f"select item_id, reason from {sql}", params)
    ]


def test_an_unknown_customer_gets_the_popular_list_in_sql_and_python(
    api: Recommender, built: BuildResult
) -> None:
    """A customer the tenant does not know gets popular(tenant, country, k): the same ids from
    the recommend macro, the popular macro and the Python API, whatever the country."""
    for tenant, country, customer in itertools.product(
        ("shop", "other", "strict"), (None, "DE", "FR", "XX"), ("somebody-new", None)
    ):
        popular = macro_list(built, "popular(?, ?, 10)", [tenant, country])
        assert popular, (tenant, country)
        recommended = macro_list(
            built, "recommend(?, ?, 10, country := ?)", [tenant, customer, country]
        )
        python = api.recommend(tenant, customer, k=10, country=country)
        assert recommended == popular == [(r.item_id, r.reason) for r in python], (tenant, country)
        assert python == api.popular(tenant, country, k=10)
    # the country column is text whatever the caller passes (NULL was typed INTEGER)
    assert query(built.db_path, "select distinct typeof(country) from popular('shop')") == [
        ("VARCHAR",)
    ]
    # a French visitor of the shop gets the French list: the kite, not the robot
    assert "t2" in items(api.recommend("shop", "somebody-new", country="FR"))
    assert "t1" not in items(api.recommend("shop", "somebody-new", country="FR"))


def test_a_known_customer_without_a_list_gets_nothing_in_sql_and_python(
    api: Recommender, built: BuildResult
) -> None:
    """Withheld (no marketing consent, a `nothing` rule) or erased: no rows, whatever country
    the caller gives - not the popular list of an unknown customer."""
    for customer in ("no_marketing", "opted_out", "erased"):
        for country in (None, "DE"):
            assert (
                macro_list(built, "recommend('shop', ?, 10, country := ?)", [customer, country])
                == []
            ), customer
            assert api.recommend("shop", customer, k=10, country=country) == [], customer
            assert api.recommend("shop", customer, k=10, context_items=["k1"]) == [], customer
    # the published file knows the erased customer by a salted hash only (one per tenant)
    assert query(built.db_path, "select count(*) from recsql_data.erased_customers") == [(3,)]
    assert query(
        built.db_path,
        "select count(*) from recsql_data.customer_rule_states where customer_id = 'erased'",
    ) == [(0,)]


def test_unknown_context_items_are_ignored_and_reported(api: Recommender) -> None:
    """An id the catalogue does not hold changes nothing: the prebaked list, boosts applied
    once, and the id reported on the result."""
    for customer in ("adult", "promo", "green"):
        plain = api.recommend("shop", customer)
        looking = api.recommend("shop", customer, context_items=["no-such-item", "k1x"])
        assert looking == plain, customer
        assert looking.unknown_context_items == ("no-such-item", "k1x")
        assert plain.unknown_context_items == ()


def test_context_blends_the_neighbours_of_what_the_customer_looks_at(api: Recommender) -> None:
    # adult's list holds the tenant's k = 4 items; asked for 6 with a bag in view, the
    # neighbours of the bag come in, the bag itself does not
    plain = api.recommend("shop", "adult")
    looking = api.recommend("shop", "adult", k=6, context_items=["e1"])
    assert len(looking) == 6 and "e1" not in items(looking)
    assert set(items(plain)) < set(items(looking))
    extra = [r for r in looking if r.item_id not in items(plain)]
    assert all(r.reason == "because you are looking at Jute bag" for r in extra)
    assert [r.rank for r in looking] == list(range(1, 7))
    assert all(a.score >= b.score for a, b in itertools.pairwise(looking))


def test_a_flagged_customer_never_gets_alcohol_even_through_context(api: Recommender) -> None:
    for context in (["w1"], ["w2"], ["w1", "w2", "k1"]):
        got = api.recommend("shop", "flagged", k=10, context_items=context)
        assert got and not ALCOHOL & set(items(got)), context
    # an adult who is not flagged does get wine next to wine
    assert ALCOHOL & set(items(api.recommend("shop", "adult", k=10, context_items=["w2"])))


def test_rules_hold_for_every_customer_and_context(api: Recommender) -> None:
    contexts = [["w1"], ["t1"], ["k1", "e2"], ["g1"], ["unknown-item"]]
    for customer, country, *_ in CUSTOMERS:
        for context in contexts:
            got = set(items(api.recommend("shop", customer, k=10, context_items=context)))
            assert not got & INACTIVE
            if customer != "no_personalization":  # their list ignores the context
                assert not got & set(context), (customer, context)
            if customer in ("minor", "no_birth_date", "flagged"):
                assert not got & ALCOHOL, (customer, context)
            if country in ("FR", ""):
                assert not got & {"t1"}, (customer, context)
            if customer == "kitchen_only":
                assert got <= KITCHEN
            if customer == "capped":
                assert len(got & KITCHEN) <= 1
            if customer in ("opted_out", "no_marketing", "erased"):
                assert got == set(), (customer, context)
            if customer == "no_personalization":
                assert items(api.recommend("shop", customer, k=10, context_items=context)) == (
                    items(api.recommend("shop", customer, k=10))
                )
            if customer != "newcomer" and customer in ("adult", "green", "promo"):
                assert "x1" not in got  # already bought (and inactive)


def test_an_unknown_customer_is_folded_in_and_judged_as_a_visitor(api: Recommender) -> None:
    got = api.recommend("shop", "somebody-new", k=10, context_items=["k1"])
    assert set(items(got)) == VISITOR_ALLOWED - {"k1"}  # every allowed item, nothing else
    assert {r.algorithm for r in got} >= {"als"} or {r.algorithm for r in got} >= {"cooccurrence"}
    assert all(r.reason.startswith(("because you are looking at", "popular")) for r in got)
    # a visitor from DE may see toys (not restricted there); one from FR only the kite
    german = set(items(api.recommend("shop", None, k=10, context_items=["t1"], country="DE")))
    french = set(items(api.recommend("shop", None, k=10, context_items=["t2"], country="FR")))
    assert "t2" in german and "t1" not in french and not (german | french) & ALCOHOL
    # with nothing to go on, a visitor gets the popular items they may be shown (k4 nobody
    # bought: it is not popular)
    alone = api.recommend("shop", "somebody-new", k=10)
    assert set(items(alone)) == VISITOR_ALLOWED - {"k4"} and alone == api.popular("shop")


def test_similar_popular_and_the_macros_agree(api: Recommender, built: BuildResult) -> None:
    similar = query(
        built.db_path,
        "select similar_item_id, score from similar_items('shop', 'k1', 3)",
    )
    assert [(r.item_id, r.score) for r in api.similar("shop", "k1", k=3)] == similar
    popular = query(built.db_path, "select item_id from popular('shop', 'FR', 10)")
    assert items(api.popular("shop", "FR", k=10)) == [r[0] for r in popular]
    assert "t1" not in items(api.popular("shop", "FR", k=10))
    assert not set(items(api.popular("shop", None, k=10))) & (ALCOHOL | {"t1"} | INACTIVE)


def test_the_macros_judge_visitors_by_the_rules(built: BuildResult) -> None:
    for_items = query(
        built.db_path, "select item_id from recommend_for_items('shop', ['k1', 'w1'], 10)"
    )
    # k4 nobody bought: it is neither similar nor popular
    assert {r[0] for r in for_items} == VISITOR_ALLOWED - {"k1", "k4"}
    german = query(built.db_path, "select item_id from popular('shop', 'DE', 10)")
    assert "t1" in {r[0] for r in german} and not {r[0] for r in german} & (ALCOHOL | INACTIVE)


def test_results_have_an_arrow_form(api: Recommender) -> None:
    table = api.recommend("shop", "adult").to_arrow()
    assert table.column_names == ["rank", "item_id", "score", "reason", "algorithm"]
    assert table.schema.field("score").type == pa.float64() and table.num_rows == 4
    assert api.recommend("shop", "opted_out").to_arrow().num_rows == 0


def test_bad_requests_say_what_is_wrong(api: Recommender, tmp_path) -> None:
    with pytest.raises(RecsqlError, match=r"unknown tenant 'nope'.*tenants include"):
        api.recommend("nope", "adult")
    with pytest.raises(ValueError, match="k must be a positive integer"):
        api.recommend("shop", "adult", k=0)
    with pytest.raises(FileNotFoundError, match="recsql build"):
        recsql.open(tmp_path / "missing.duckdb")


def test_the_class_verdicts_are_the_rule_macros_for_every_person(built: BuildResult) -> None:
    """The build judges items once per rule class (rule_class_verdicts); that must be what the
    rule macros say for each customer and visitor of the class, with their own age: for every
    person of every tenant and every item, the same verdicts."""
    con = duckdb.connect(str(built.db_path), read_only=True)
    try:
        rows = con.sql(
            """
            select
                c.customer_id, c.country, i.item_id,
                recsql_blocked_by(c, i) as blocked_by,
                recsql_not_included_by(c, i) as not_included_by,
                recsql_boost(c, i) as boost,
                recsql_caps(c, i) as caps,
                v.blocked_by, v.not_included_by, coalesce(v.boost, 1.0), coalesce(v.caps, [])
            from recsql_data.customer_rule_states as c
            inner join recsql_data.item_rule_states as i on c.tenant_id = i.tenant_id
            left join recsql_data.rule_class_verdicts as v
                on v.tenant_id = c.tenant_id and v.rule_class = c.rule_class
                and v.item_id = i.item_id
            """
        ).fetchall()
    finally:
        con.close()
    assert len(rows) > 500
    for customer, country, item, *verdict in rows:
        assert verdict[:4] == verdict[4:], (customer, country, item)
    seen = {blocked for _, _, _, blocked, *_ in rows}
    # the fixture exercises every verdict the macros give
    assert seen >= {
        None, "geo restriction", "geo restriction (country unknown)", "age limit",
        "age limit (age unknown)", "rule *:no_alcohol", "inactive item",
    }  # fmt: skip


def test_the_in_memory_nudge_is_the_rule_macro(built: BuildResult) -> None:
    """recsql.rules.verdicts.nudge restates recsql_nudge, the one verdict lists made at query
    time compute per customer: for every customer, visitor and item, the same factor."""
    con = duckdb.connect(str(built.db_path), read_only=True)
    try:
        rows = con.sql(
            """
            select
                s.sustainability_nudge, i.sustainability_score, c.sustainability_average,
                recsql_nudge(c, i, s.sustainability_nudge)
            from recsql_data.customer_rule_states as c
            inner join recsql_data.item_rule_states as i on c.tenant_id = i.tenant_id
            inner join recsql_data.tenant_settings as s on c.tenant_id = s.tenant_id
            """
        ).fetchall()
    finally:
        con.close()
    factors = set()
    for nudge, score, average, expected in rows:
        assert verdicts.nudge(nudge, score, average) == pytest.approx(expected)
        factors.add(expected)
    assert factors == {1.0, 1.5}  # strict's nudge of 0.5 applies to some pairs


def test_a_tenant_is_loaded_from_one_build(built: BuildResult, tmp_path: Path) -> None:
    """A publish while a tenant loads does not mix two builds in its lists: the load reads the
    build it started on; the next call reads the new one."""
    served, other = tmp_path / "served.duckdb", tmp_path / "other.duckdb"
    shutil.copy(built.db_path, served)
    shutil.copy(built.db_path, other)
    con = duckdb.connect(str(other))
    con.execute("delete from recsql_data.recommendations")  # the "next build" serves nothing
    con.close()
    recommender = recsql.open(served)
    connection = recommender._con

    class PublishingWhileLoading:
        """The recommender's connection, with a publish after its first query."""

        published = False

        def __getattr__(self, name: str):
            if name in ("sql", "execute") and not self.published:
                self.published = True
                os.replace(other, served)
            return getattr(connection, name)

    recommender._con = PublishingWhileLoading()  # type: ignore[assignment]
    try:
        first = recommender.recommend("shop", "adult")
        assert items(first) == [row[1] for row in view_list(built, "recommendations", "adult")]
        assert recommender.recommend("shop", "adult") == []  # the new build, at the next call
    finally:
        recommender.close()
        connection.close()
