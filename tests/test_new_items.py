"""New items for you (issue 16's new-item cold start): which items are new, their scores by
content, and the rules on the `new_for_you` shelf - against answers computed here from the
documented formula (docs/engine.md#new-items-for-you)."""

from __future__ import annotations

import math
import re

import numpy as np
import pyarrow as pa
import pytest
import scipy.sparse as sp

from recsql.build import BuildResult
from recsql.engine import new_items
from tests.conftest import query, write_inputs

# ---------------------------------------------------------------------------------------------
# the engine alone

CONTENT = pa.table(
    {
        "tenant_id": ["t"] * 8,
        "item_id": ["a", "a", "b", "c", "c", "x", "x", "y"],
        "is_new": [False, False, False, False, False, True, True, True],
        "feature": [
            "word:candle",
            "category:xmas",
            "category:xmas",
            "word:mug",
            "category:kitchen",
            "word:candle",
            "category:xmas",
            "category:kitchen",
        ],
        "weight": [0.6, 0.8, 1.0, 0.8, 0.6, 0.8, 0.6, 1.0],
    }
)


def test_a_customer_gets_the_new_items_most_like_their_history() -> None:
    histories = pa.table(
        {
            "tenant_id": ["t", "t", "t", "t", "t"],
            "customer_id": ["u1", "u1", "u2", "u3", "u4"],
            "item_id": ["a", "b", "c", "gone", "b"],
        }
    )
    rows = new_items.candidates(CONTENT, histories, {"t": 5}).to_pylist()
    got = {(r["customer_id"], r["rank"]): (r["item_id"], r["because_item_id"]) for r in rows}
    scores = {(r["customer_id"], r["item_id"]): r["score"] for r in rows}
    # u1 bought a (candle .6, xmas .8) and b (xmas 1): x (candle .8, xmas .6) scores
    # (a.x + b.x) / 2 = (.96 + .6) / 2, a speaking for it; y shares nothing with them.
    # u2 bought c (mug .8, kitchen .6): y (kitchen 1) .6, x nothing (not offered at all);
    # u3's item has no content; u4 bought b: x .6
    assert got == {("u1", 1): ("x", "a"), ("u2", 1): ("y", "c"), ("u4", 1): ("x", "b")}
    assert scores == pytest.approx({("u1", "x"): 0.78, ("u2", "y"): 0.6, ("u4", "x"): 0.6})


def test_depth_cuts_each_customer_and_tenants_stay_apart() -> None:
    content = pa.concat_tables(
        [CONTENT, CONTENT.set_column(0, "tenant_id", pa.array(["s"] * CONTENT.num_rows))]
    )
    histories = pa.table(
        {
            "tenant_id": ["s", "t", "t"],
            "customer_id": ["v", "u", "u"],
            "item_id": ["c", "a", "c"],
        }
    )
    rows = new_items.candidates(content, histories, {"t": 1, "s": 5}).to_pylist()
    assert [(r["tenant_id"], r["customer_id"], r["item_id"], r["rank"]) for r in rows] == [
        ("t", "u", "x", 1),  # x: (a.x + c.x) / 2 = .96 / 2 > y: (0 + .6) / 2; depth 1
        ("s", "v", "y", 1),
    ]


def test_a_tenant_without_a_new_item_gets_nothing() -> None:
    content = CONTENT.set_column(2, "is_new", pa.array([False] * CONTENT.num_rows))
    histories = pa.table({"tenant_id": ["t"], "customer_id": ["u"], "item_id": ["a"]})
    assert new_items.candidates(content, histories, {"t": 5}).num_rows == 0


def test_content_rows_are_unit_length_and_the_same_bits_in_any_input_order() -> None:
    rng = np.random.default_rng(11)
    rows, columns = rng.integers(0, 30, 200), rng.integers(0, 50, 200)
    weights = rng.random(200) * 5
    matrix = new_items.content_matrix(rows, columns, weights, (30, 50))
    lengths = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    np.testing.assert_allclose(lengths[np.diff(matrix.indptr) > 0], 1.0)
    # the build hands the rows over in a fixed order, but the scaling must not depend on it
    keep = np.unique(rows * 50 + columns, return_index=True)[1]  # one weight per cell
    order = rng.permutation(len(keep))
    shuffled = new_items.content_matrix(
        rows[keep][order], columns[keep][order], weights[keep][order], (30, 50)
    )
    again = new_items.content_matrix(rows[keep], columns[keep], weights[keep], (30, 50))
    np.testing.assert_array_equal(shuffled.toarray(), again.toarray())


def test_each_item_keeps_its_most_similar_new_items() -> None:
    content = sp.csr_matrix(
        np.array(
            [
                [1.0, 0.0, 0.0],  # item 0
                [0.6, 0.8, 0.0],  # new
                [0.8, 0.6, 0.0],  # new
                [0.0, 0.0, 1.0],  # new, like nothing else
            ]
        )
    )
    is_new = np.array([False, True, True, True])
    neighbours = new_items.new_item_neighbours(content, is_new, 2)
    dense = neighbours.toarray()
    assert dense.shape == (4, 3)
    np.testing.assert_allclose(dense[0], [0.6, 0.8, 0.0])
    np.testing.assert_allclose(dense[1], [1.0, 0.96, 0.0])  # itself, then the other
    np.testing.assert_allclose(dense[3], [0.0, 0.0, 1.0])  # no zero similarity kept
    # equally similar new items: the first ones are kept
    ties = sp.csr_matrix(np.array([[1.0, 0.0], [0.6, 0.8], [0.6, 0.8], [0.6, 0.8]]))
    kept = new_items.new_item_neighbours(ties, np.array([False, True, True, True]), 2).toarray()
    np.testing.assert_allclose(kept[0], [0.6, 0.6, 0.0])


def test_similarities_are_the_same_in_small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    content = sp.csr_matrix(rng.random((50, 8)) * (rng.random((50, 8)) < 0.4))
    is_new = rng.random(50) < 0.3
    whole = new_items.new_item_neighbours(content, is_new, 4).toarray()
    monkeypatch.setattr(new_items, "SIMILARITIES_PER_BLOCK", 5)  # a row at a time
    np.testing.assert_array_equal(
        new_items.new_item_neighbours(content, is_new, 4).toarray(), whole
    )
    # each row keeps its 4 largest positive similarities to the new items
    full = (content @ content[np.flatnonzero(is_new)].T).toarray()
    for row, kept in zip(full, whole, strict=True):
        assert np.count_nonzero(kept) == min(4, np.count_nonzero(row))
        assert kept.max() == row.max()


def test_scores_are_the_same_across_customer_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(7)
    histories = sp.csr_matrix((rng.random((40, 30)) < 0.2).astype(float))
    # eighths: sums are exact, so ties in scores and in similarities are real ties
    neighbours = sp.csr_matrix(np.ceil(rng.random((30, 6)) * 8) / 8 * (rng.random((30, 6)) < 0.5))
    whole = new_items.recommend(histories, neighbours, 4)
    monkeypatch.setattr(new_items, "SIMILARITIES_PER_BLOCK", 13)  # two customers at a time
    blocked = new_items.recommend(histories, neighbours, 4)
    for a, b in zip(whole, blocked, strict=True):
        np.testing.assert_array_equal(a, b)
    # and the same as the dense computation: mean similarity, best first, ties by column; the
    # explaining item the first of the history items most similar to the new one
    customer, item, score, because, rank = whole
    dense = (histories @ neighbours).toarray() / np.maximum(histories.sum(1).A, 1)
    similar = neighbours.toarray()
    assert len(customer) == sum(min(4, np.count_nonzero(row)) for row in dense)
    for c, i, s, b, r in zip(customer, item, score, because, rank, strict=True):
        assert s == dense[c, i]
        assert r == 1 + int((dense[c] > dense[c, i]).sum() + (dense[c, :i] == dense[c, i]).sum())
        bought = histories[c].indices
        assert b == bought[np.argmax(similar[bought, i])]
    assert len(set(score.tolist())) < len(score)  # there were ties to break


# ---------------------------------------------------------------------------------------------
# a build: which items are new, the scores as documented, and the rules

AS_OF = "2026-01-01 00:00:00"
OLD = "2024-01-01"
# item_id, name, category, price, launched_at, is_active, min_age
ITEMS = [
    ("c1", "Scented candle vanilla", "home", 5, OLD, "true", ""),
    ("c2", "Scented candle rose", "home", 5, OLD, "true", ""),
    ("m1", "Coffee mug blue", "kitchen", 4, OLD, "true", ""),
    ("w1", "Red wine", "alcohol", 12, OLD, "true", 18),
    ("n1", "Scented candle lavender", "home", 5, "2025-12-20", "true", ""),  # new
    ("n2", "Coffee mug green", "kitchen", 4, "2025-12-25", "true", ""),  # new
    ("n3", "Sparkling wine", "alcohol", 12, "2025-12-28", "true", 18),  # new, 18+
    ("u1", "Candle holder", "home", 6, "", "true", ""),  # no launch date, never bought: new
    ("u2", "Candle snuffer", "home", 6, "", "true", ""),  # no launch date, bought: not new
    ("o1", "Scented candle pine", "home", 5, "2025-10-01", "true", ""),  # 92 days: not new
    ("f1", "Scented candle cedar", "home", 5, "2026-03-01", "true", ""),  # not launched yet
    ("i1", "Scented candle amber", "home", 5, "2025-12-30", "false", ""),  # inactive
]
NEW = {"n1", "n2", "n3", "u1"}
# customer_id, birth_date, items bought
CUSTOMERS = [
    ("candles", "1980-01-01", ["c1", "c2"]),
    ("mugs", "1980-01-01", ["m1"]),
    ("wine", "1980-01-01", ["w1"]),
    ("minor", "2015-01-01", ["w1"]),  # n3 is 18+
    ("no_marketing", "1980-01-01", ["c1"]),
    ("bought_new", "1980-01-01", ["c1", "n1"]),  # n1 bought already: not offered again
    ("snuffer", "1980-01-01", ["u2"]),
]


def _csv(header: str, rows: list[tuple]) -> str:
    return header + "\n" + "".join(",".join(str(v) for v in row) + "\n" for row in rows)


def expected_scores() -> dict[str, dict[str, float]]:
    """Each customer's score for each new item, from the documented formula, by hand."""
    features = {}
    for item, name, category, price, *_ in ITEMS:
        words = {"word:" + w for w in re.findall(r"[a-z]{3,}", name.lower())}
        features[item] = words | {f"category:{category}", f"price:{math.floor(math.log2(price))}"}
    df: dict[str, int] = {}
    for found in features.values():
        for feature in found:
            df[feature] = df.get(feature, 0) + 1
    vectors = {}
    for item, found in features.items():
        weights = {f: math.log(len(ITEMS) / df[f]) for f in found if df[f] < len(ITEMS)}
        norm = math.sqrt(sum(w * w for w in weights.values()))
        vectors[item] = {f: w / norm for f, w in weights.items()}

    def cosine(a: str, b: str) -> float:
        return sum(w * vectors[b].get(f, 0.0) for f, w in vectors[a].items())

    return {
        customer: {
            new: sum(cosine(bought, new) for bought in history) / len(history)
            for new in sorted(NEW)
        }
        for customer, _, history in CUSTOMERS
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, build_inputs) -> BuildResult:
    root = tmp_path_factory.mktemp("new_items")
    files = {
        "items.csv": _csv(
            "item_id,name,category,price,launched_at,is_active,min_age",
            [tuple(item) for item in ITEMS],
        ),
        "customers.csv": _csv(
            "customer_id,country,birth_date", [(c, "DE", born) for c, born, _ in CUSTOMERS]
        ),
        "interactions.csv": _csv(
            "customer_id,item_id,occurred_at",
            [(c, item, "2025-12-29 10:00:00") for c, _, bought in CUSTOMERS for item in bought]
            # enough background for every old item to have buyers
            + [
                (f"bg{i}", item, "2025-06-01 10:00:00")
                for i in range(5)
                for item in ("c1", "c2", "m1", "w1", "u2", "o1")
            ],
        ),
        "consents.csv": "customer_id,personalization,marketing,updated_at\n"
        "no_marketing,true,false,2025-01-01\n",
    }
    return build_inputs(write_inputs(root / "data", files), root / "recsql.duckdb", as_of=AS_OF)


@pytest.mark.slow
def test_new_items_are_those_launched_lately_or_never_bought(built: BuildResult) -> None:
    rows = query(
        built.build_db,
        "select distinct item_id from engine.int_item_content where is_new order by 1",
    )
    assert {r[0] for r in rows} == NEW


@pytest.mark.slow
def test_new_for_you_is_scored_as_documented_and_judged_by_the_rules(built: BuildResult) -> None:
    served: dict[str, list[tuple[str, float, str]]] = {}
    for customer, item, score, reason, algorithm in query(
        built.db_path,
        "select customer_id, item_id, score, reason, algorithm from new_for_you "
        "order by customer_id, rank",
    ):
        assert algorithm == "content"
        served.setdefault(customer, []).append((item, score, reason))
    expected = expected_scores()
    allowed = {
        "candles": NEW - {"n3"},
        "mugs": NEW - {"n3"},
        "wine": NEW,
        "minor": NEW - {"n3"},  # 18+
        "bought_new": NEW - {"n1"},  # bought already
        "snuffer": NEW,
    }
    for customer, items in allowed.items():
        want = sorted(
            ((i, s) for i, s in expected[customer].items() if i in items and s > 0),
            key=lambda pair: (-pair[1], pair[0]),
        )
        got = [(item, score) for item, score, _ in served.get(customer, [])]
        assert [i for i, _ in got] == [i for i, _ in want], customer
        assert [s for _, s in got] == pytest.approx([s for _, s in want]), customer
    assert "no_marketing" not in served  # a push list: not without marketing consent
    assert served["candles"][0][0] == "n1"
    assert served["candles"][0][2] in (
        "new, like Scented candle vanilla",
        "new, like Scented candle rose",
    )
    assert served["mugs"][0][:1] == ("n2",) and served["mugs"][0][2] == "new, like Coffee mug blue"
    assert served["wine"][0][0] == "n3"


@pytest.mark.slow
def test_the_python_api_serves_the_same_list(built: BuildResult) -> None:
    import recsql

    with recsql.open(built.db_path) as recommender:
        listed = recommender.new_for_you("default", "candles", k=2)
    rows = query(
        built.db_path,
        "select item_id from new_for_you('default', 'candles', 2)",
    )
    assert [r.item_id for r in listed] == [r[0] for r in rows]
    assert len(rows) == 2
