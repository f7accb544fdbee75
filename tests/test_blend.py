"""The learned blend (recsql/engine/blend.py): the union of list-makers' candidates and its
features against a hand-computed example, what a blend learns from a planted signal and its
cross-fitted lists, and serving: each tenant's union ranked by its own blend."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from recsql.engine import blend, candidates, ranker


def _rows(customers, items, ranks, scores, buyers, share):
    """One list-maker's candidate rows as blend.union reads them (codes, sorted by customer)."""
    n = len(items)
    return {
        "customer_id": np.array(customers),
        "item": np.array(items),
        "rank": np.array(ranks),
        "score": np.array(scores, float),
        "buyers": np.array(buyers, float),
        "popularity": np.zeros(n),
        "trend_score": np.full(n, np.nan),
        "recent_buyers": np.zeros(n),
        "item_age_days": np.full(n, np.nan),
        "category_share": np.array(share, float),
        "log_price_ratio": np.full(n, np.nan),
    }


#: List-maker A (depth 3): customer 0 gets items 5 and 7 (scores 3 and 1), customer 1 item 5.
#: List-maker B (depth 2): customer 0 gets items 7 and 9 (scores 4 and 2), customer 2 item 9.
#: An item's buyers and a (customer, item)'s category share are the same whoever offers it.
A = _rows([0, 0, 1], [5, 7, 5], [1, 2, 1], [3, 1, 2], [10, 20, 10], [0.5, 0.25, 0.0])
B = _rows([0, 0, 2], [7, 9, 9], [1, 2, 1], [4, 2, 1], [20, 30, 30], [0.25, 0.75, 1.0])


def test_the_union_has_each_offered_customer_and_item_once_with_every_makers_view():
    found = blend.union([A, B], [3, 2])
    assert list(zip(found.customers, found.items, strict=True)) == [
        (0, 5), (0, 7), (0, 9), (1, 5), (2, 9),
    ]  # fmt: skip
    names = blend.features(["a", "b"])
    assert len(names) == found.x.shape[1] == 2 * 3 + len(ranker.FEATURES) - 2
    assert names[:6] == (
        "a:score_z", "a:log_rank", "a:offered", "b:score_z", "b:log_rank", "b:offered",
    )  # fmt: skip
    x = dict(zip(names, found.x.T, strict=True))
    ln = np.log
    # A's view: customer 0's scores 3 and 1 standardise to +1 and -1; a lone candidate to 0;
    # what A did not offer sits below its lowest (less one) at rank depth + 1
    np.testing.assert_allclose(x["a:score_z"], [1, -1, -2, 0, -1])
    np.testing.assert_allclose(x["a:log_rank"], [0, ln(2), ln(4), 0, ln(4)])
    np.testing.assert_array_equal(x["a:offered"], [1, 1, 0, 1, 0])
    np.testing.assert_allclose(x["b:score_z"], [-2, 1, -1, -1, 0])
    np.testing.assert_allclose(x["b:log_rank"], [ln(3), 0, ln(2), ln(3), 0])
    np.testing.assert_array_equal(x["b:offered"], [0, 1, 1, 0, 1])
    # the item and context features, as the ranker makes them, whoever offered the row
    np.testing.assert_allclose(x["log_buyers"], np.log1p([10, 20, 30, 10, 30]))
    np.testing.assert_allclose(x["category_share"], [0.5, 0.25, 0.75, 0.0, 1.0])
    # a column the rows share (e.g. a label), taken from the row that gave the features
    labels = [np.array([1, 2, 3]), np.array([4, 5, 6])]
    np.testing.assert_array_equal(found.take(labels), [1, 2, 5, 3, 6])


def test_a_blend_ranked_by_one_makers_ranks_keeps_its_order_and_puts_the_rest_below():
    found = blend.union([A, B], [3, 2])
    weights = np.zeros(found.x.shape[1])
    weights[blend.features(["a", "b"]).index("b:log_rank")] = -1.0
    order, ranks = ranker._ranked(found.customers, found.x @ weights)
    ranked = sorted(zip(found.customers[order], ranks, found.items[order], strict=True))
    # customer 0: B's 7 and 9 in B's order, then A's 5, which B did not offer
    assert ranked == [(0, 1, 7), (0, 2, 9), (0, 3, 5), (1, 1, 5), (2, 1, 9)]


def test_a_union_needs_each_makers_depth():
    with pytest.raises(ValueError, match="depth"):
        blend.union([A, B], [3])


# --------------------------------------------------------------------------------------------
# Learning a blend from the holdout examples, and serving with it


def _examples(tenant: str = "t1", customers: int = 60, seed: int = 0) -> pa.Table:
    """Holdout examples of EASE's two variants whose buyers are planted: each customer is
    offered 10 items by each variant, 5 of them by both; the customers buy the items only the
    binary variant offers, never the others (whatever the scores say)."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(customers):
        items = rng.choice(100, 15, replace=False)
        for variant, offered in (("sqrt", items[:10]), ("binary", items[5:])):
            for rank, item in enumerate(offered, 1):
                rows.append(
                    {
                        "tenant_id": tenant,
                        "algorithm": "ease",
                        "variant": variant,
                        "customer_id": f"c{c:03d}",
                        "rank": rank,
                        "item_id": f"i{item}",
                        "score": float(20 - rank + rng.random()),
                        "buyers": int(item) + 1,
                        "popularity": float(item),
                        "trend_score": None,
                        "recent_buyers": 0,
                        "is_bought": variant == "binary" and item in items[10:],
                        "cross_fit_group": c % 2,
                    }
                )
    return pa.Table.from_pylist(rows)


def test_a_blend_learns_what_one_variant_alone_offers_and_ranks_it_first() -> None:
    examples = _examples()
    [row] = blend.fit(examples, {}, {"t1": 10}).to_pylist()
    assert (row["algorithm"], row["variant"]) == ("ease", blend.VARIANT)
    assert row["features"] == list(blend.features(blend.MAKERS))
    weights = dict(zip(row["features"], row["weights"], strict=True))
    # offered by the binary variant and not by sqrt: bought
    assert weights["binary:offered"] > 1 and weights["sqrt:offered"] < -1
    lists = blend.cross_fitted_lists(examples, {}, {"t1": 5}, {"t1": 10})
    assert set(lists["variant"].to_pylist()) == {blend.VARIANT}
    bought = {
        (c, i) for c, i, b in zip(*(examples[n].to_pylist() for n in
                                    ("customer_id", "item_id", "is_bought")), strict=True) if b
    }  # fmt: skip
    # each customer's 5 binary-only items are their cross-fitted top 5
    assert lists.num_rows == 60 * 5
    listed = zip(lists["customer_id"].to_pylist(), lists["item_id"].to_pylist(), strict=True)
    assert all(pair in bought for pair in listed)


def test_a_tenant_with_one_variants_examples_learns_no_blend() -> None:
    examples = _examples()
    only_sqrt = examples.filter(pc.equal(examples["variant"], "sqrt"))
    assert blend.fit(only_sqrt, {}, {"t1": 10}).num_rows == 0
    assert blend.cross_fitted_lists(only_sqrt, {}, {"t1": 5}, {"t1": 10}).num_rows == 0


def _served(tenant: str) -> list[pa.Table]:
    """Each maker's served candidates of one tenant (candidates.OUTPUT_SCHEMA): c1 is offered
    a, b, c by sqrt and c, d by binary; c2 a by sqrt and e by binary. The explanation names
    the maker."""
    tables = []
    for variant, offered in (
        ("sqrt", {"c1": "abc", "c2": "a"}),
        ("binary", {"c1": "cd", "c2": "e"}),
    ):
        rows = [
            {"tenant_id": tenant, "algorithm": "ease", "variant": variant, "customer_id": c,
             "rank": rank, "item_id": item, "score": 10.0 - rank,
             "because_item_id": f"{variant}-{item}"}
            for c, items in offered.items()
            for rank, item in enumerate(items, 1)
        ]  # fmt: skip
        tables.append(pa.Table.from_pylist(rows, schema=candidates.OUTPUT_SCHEMA))
    return tables


ITEMS = pa.table(
    {
        "tenant_id": ["t1"] * 5 + ["t2"] * 5,
        "item_id": list("abcde") * 2,
        "buyers": [1, 2, 3, 4, 5] * 2,
        "popularity": [1.0] * 10,
        "trend_score": [None] * 10,
        "recent_buyers": [0] * 10,
    }
)


def _ranked(table: pa.Table) -> list[tuple]:
    return sorted(
        zip(*(table[n].to_pylist() for n in
              ("tenant_id", "customer_id", "rank", "item_id", "because_item_id")), strict=True)
    )  # fmt: skip


def test_served_candidates_are_the_union_ranked_by_each_tenants_blend() -> None:
    """Two tenants with the same customers and items, the rows shuffled: t1's blend ranks by
    the binary variant's ranks, t2's by the items' buyers; each customer's list is cut at the
    tenant's depth, and each row explained by the first variant that offered it."""
    makers = [
        pa.concat_tables([a, b]).take(np.random.default_rng(1).permutation(a.num_rows * 2))
        for a, b in zip(_served("t1"), _served("t2"), strict=True)
    ]
    by_binary = _blend_weights({"binary:log_rank": -1.0})
    by_buyers = _blend_weights({"log_buyers": 1.0})
    found = blend.rerank(makers, {"t1": by_binary, "t2": by_buyers}, ITEMS, {}, {"t1": 3, "t2": 2})
    assert found.schema == candidates.OUTPUT_SCHEMA
    assert set(found["variant"].to_pylist()) == {blend.VARIANT}
    assert _ranked(found) == [
        # t1 c1: binary's c then d, then what only sqrt offered (a, b: a tie at ln(depth + 1),
        # broken by the union's order), cut at 3; c2: e (binary), a
        ("t1", "c1", 1, "c", "sqrt-c"), ("t1", "c1", 2, "d", "binary-d"),
        ("t1", "c1", 3, "a", "sqrt-a"),
        ("t1", "c2", 1, "e", "binary-e"), ("t1", "c2", 2, "a", "sqrt-a"),
        # t2 by buyers, cut at 2: c1 d (4), c (3); c2 e (5), a (1)
        ("t2", "c1", 1, "d", "binary-d"), ("t2", "c1", 2, "c", "sqrt-c"),
        ("t2", "c2", 1, "e", "binary-e"), ("t2", "c2", 2, "a", "sqrt-a"),
    ]  # fmt: skip
    # made a customer at a time, the same rows
    one_by_one = blend.rerank(
        makers, {"t1": by_binary, "t2": by_buyers}, ITEMS, {}, {"t1": 3, "t2": 2}, chunk_rows=1
    )
    assert _ranked(one_by_one) == _ranked(found)


def test_a_blend_with_the_wrong_number_of_weights_is_refused() -> None:
    with pytest.raises(ValueError, match="weights"):
        blend.rerank(_served("t1"), {"t1": [1.0, 2.0]}, ITEMS, {}, {"t1": 3})


def _blend_weights(named: dict[str, float]) -> list[float]:
    return [named.get(name, 0.0) for name in blend.features(blend.MAKERS)]


def _weights(pairs: list[tuple[str, str, float]]) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {"tenant_id": "t1", "item_id": i, "neighbour_item_id": n, "weight": w}
            for i, n, w in pairs
        ]
    )


def test_a_blend_tenant_is_served_a_batch_of_customers_at_a_time_as_in_one_go() -> None:
    """A blend version's two variants scored from their stored weights (the sqrt variant's: a
    -> c (1), a -> d (0.5), b -> d (1); the binary variant's: a -> e only, so c2, who bought b,
    is offered nothing by it; c4 bought c, d and e, which lead nowhere), the union ranked by a
    blend of both variants' ranks, the binary variant's ten times as heavy: the same rows
    whether the customers come one at a time (a batch where the binary variant offers nothing
    included) or all at once."""
    interactions = pa.Table.from_pylist(
        [
            {"tenant_id": "t1", "customer_id": c, "item_id": i, "affinity": 1.0,
             "purchase_occasions": 1}
            for c, i in (("c1", "a"), ("c2", "b"), ("c3", "a"), ("c3", "b"), ("c4", "c"),
                         ("c4", "d"), ("c4", "e"))
        ]
    )  # fmt: skip
    job = candidates.Job(
        "t1", "ease", 10, {"ease_lambda": 0.001, "candidates_n": 10}, blend.VARIANT
    )
    weights = [
        _weights([("a", "c", 1.0), ("a", "d", 0.5), ("b", "d", 1.0)]),
        _weights([("a", "e", 1.0)]),
    ]
    by_binary = {"t1": _blend_weights({"binary:log_rank": -1.0, "sqrt:log_rank": -0.1})}
    whole, one_by_one = (
        blend.serve(interactions, [job], weights, by_binary, ITEMS, {}, batch_customers=size)
        for size in (1_000, 1)
    )
    assert _ranked(whole) == _ranked(one_by_one)
    assert _ranked(whole) == [
        # the binary variant's e first, then the sqrt variant's in its order
        ("t1", "c1", 1, "e", "a"), ("t1", "c1", 2, "c", "a"), ("t1", "c1", 3, "d", "a"),
        ("t1", "c2", 1, "d", "b"),
        # d: 1.5 for c3 (0.5 from a, 1 from b, which explains it), c: 1 (from a)
        ("t1", "c3", 1, "e", "a"), ("t1", "c3", 2, "d", "b"), ("t1", "c3", 3, "c", "a"),
    ]  # fmt: skip
    assert set(whole["variant"].to_pylist()) == {blend.VARIANT}
