"""Lists made at query time (recsql/serving/lists.py), on a tenant made in memory whose right
answers are known: how the sources of a blended list are ranked and fused."""

from __future__ import annotations

import pyarrow as pa

from recsql.rules.verdicts import Verdict
from recsql.serving import lists
from recsql.serving.results import Recommendation
from recsql.serving.tenant import Item, KeyedRows, Tenant

SETTINGS = {"k": 4, "sustainability_nudge": 0.0}


def shop(verdicts: dict[str, Verdict], similar: dict[str, list[str]]) -> Tenant:
    names = "abcdefgh"
    return Tenant(
        tenant_id="t",
        settings=SETTINGS,
        customers={},
        erased=("", frozenset()),
        visitors={},
        verdicts={0: verdicts},
        items={item: Item(item.upper(), None, None) for item in names},
        bought=KeyedRows.by(pa.table({"customer_id": pa.array([], pa.string())}), "customer_id"),
        popular={},
        visitor_lists={},
        list_countries=frozenset(),
        similar={item: (others, [1.0] * len(others)) for item, others in similar.items()},
        lists={},
        factors=None,
    )


def own(*items: str) -> list[Recommendation]:
    return [
        Recommendation(rank, item, 10.0 - rank, "because", "ease")
        for rank, item in enumerate(items, 1)
    ]


def blended(tenant: Tenant, prebaked: list[Recommendation], context: list[str]) -> list[str]:
    person = lists.Person(0, None, None, frozenset(context))
    rows = lists.blend(tenant, person, prebaked, context, 6, fold_in_context=False, fills=[])
    return [r.item_id for r in rows]


def test_a_boost_counts_once_in_a_blended_list() -> None:
    """c is boosted: the prebaked list already ranks it by its boosted score (third). Blending
    fuses ranks, so the own list keeps its order among its items; the boost is not applied on
    top of the fused score again (which would move c to the front)."""
    tenant = shop({"c": Verdict(boost=3.0)}, {"x": ["e", "f"]})
    got = blended(tenant, own("a", "b", "c", "d"), ["x"])
    assert [i for i in got if i in "abcd"] == ["a", "b", "c", "d"]
    # equal fused scores (rank 1 of each source) go to the lower id
    assert got == ["a", "e", "b", "f", "c", "d"]


def test_a_source_is_ranked_by_its_scores_after_boosts() -> None:
    """The neighbours of the context come in ranked as the rules would rank them: f boosted
    above e, whose raw similarity was higher."""
    tenant = shop({"f": Verdict(boost=5.0)}, {"x": ["e", "f"]})
    tenant.similar["x"] = (["e", "f"], [2.0, 1.0])
    assert blended(tenant, own("a"), ["x"])[:3] == ["a", "f", "e"]


def test_blocked_items_and_the_context_itself_never_come_in() -> None:
    tenant = shop({"e": Verdict(blocked_by="geo restriction")}, {"x": ["e", "f", "x"]})
    got = blended(tenant, own("a", "b"), ["x"])
    assert "e" not in got and "x" not in got and got[:3] == ["a", "f", "b"]


class CountingItems(dict):
    """A tenant's catalogue that counts the walks over all of it."""

    walks = 0

    def __iter__(self):
        type(self).walks += 1
        return super().__iter__()


def test_the_whole_catalogue_is_judged_only_for_a_list_still_short() -> None:
    """The last fill judges every item of the tenant: a cost a request pays only when the
    sources before leave the list short of k (a tenant may hold 20,000 items)."""
    tenant = shop({}, {"x": ["e", "f"]})
    tenant.items = CountingItems(tenant.items)
    person = lists.Person(0, None, None, frozenset(["x"]))
    full = lists.blend(tenant, person, own("a", "b"), ["x"], 4, fold_in_context=False, fills=[])
    assert [r.item_id for r in full] == ["a", "e", "b", "f"] and CountingItems.walks == 0
    longer = lists.blend(tenant, person, own("a", "b"), ["x"], 6, fold_in_context=False, fills=[])
    assert [r.item_id for r in longer] == ["a", "e", "b", "f", "c", "d"]
    assert CountingItems.walks == 1
