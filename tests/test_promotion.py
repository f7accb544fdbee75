"""The promotion gate's judgement with known answers (recsql/lifecycle/promotion.py): each version
scored from its stored model on the histories up to the candidate's data, NDCG@k against what
customers bought new after it, the candidate promoted only when it beats the active version by
more than the margin."""

from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow as pa
import pytest

from recsql.engine import blend
from recsql.lifecycle import promotion

CUTOFF = datetime(2026, 1, 10)
#: NDCG of one relevant item found at rank 2.
AT_2 = 1 / 1.584962500721156


def _interactions() -> pa.Table:
    """c1 bought a, then c (new); c2 bought b, then d (new); c3 bought a, then a again
    (nothing new: not judged); c4 had no history and bought c (not judged: no version can
    know them)."""
    day = timedelta(days=1)
    rows = [
        ("c1", "a", 1.0, 1, CUTOFF - 2 * day, CUTOFF - day, False),
        ("c1", "c", 0.0, 0, None, None, True),
        ("c2", "b", 1.0, 1, CUTOFF - day, CUTOFF - day, False),
        ("c2", "d", 0.0, 0, None, None, True),
        ("c3", "a", 1.0, 1, CUTOFF - day, CUTOFF - day, True),
        ("c4", "c", 0.0, 0, None, None, True),
    ]
    names = (
        "customer_id",
        "item_id",
        "affinity",
        "purchase_occasions",
        "first_purchased_at",
        "last_purchased_at",
        "is_bought_after",
    )
    table = pa.Table.from_pylist([dict(zip(names, row, strict=True)) for row in rows])
    return table.add_column(0, "tenant_id", pa.array(["t"] * len(rows)))


#: The items' metadata: a and c of one category, b and d of another.
ITEMS = pa.table(
    {
        "tenant_id": ["t"] * 4,
        "item_id": ["a", "b", "c", "d"],
        "category": ["x", "y", "x", "y"],
        "price": [1.0, 1.0, 1.0, 1.0],
    }
)


def _forms(popularity: dict[str, list[str]], neighbours: list[tuple]) -> dict[str, pa.Table]:
    return {
        "popularity": pa.Table.from_pylist(
            [
                {
                    "tenant_id": "t",
                    "version": version,
                    "country": None,
                    "item_id": item,
                    "popularity_rank": rank,
                }
                for version, items in popularity.items()
                for rank, item in enumerate(items, 1)
            ],
            schema=pa.schema(
                [
                    ("tenant_id", pa.string()),
                    ("version", pa.string()),
                    ("country", pa.string()),
                    ("item_id", pa.string()),
                    ("popularity_rank", pa.int64()),
                ]
            ),
        ),
        "neighbours": pa.Table.from_pylist(
            [
                {
                    "tenant_id": "t",
                    "version": version,
                    "algorithm": algorithm,
                    "item_id": item,
                    "neighbour_item_id": neighbour,
                    "weight": weight,
                }
                for version, algorithm, item, neighbour, weight in neighbours
            ],
            schema=pa.schema(
                [
                    ("tenant_id", pa.string()),
                    ("version", pa.string()),
                    ("algorithm", pa.string()),
                    ("item_id", pa.string()),
                    ("neighbour_item_id", pa.string()),
                    ("weight", pa.float64()),
                ]
            ),
        ),
        "factors": pa.table(
            {
                "tenant_id": pa.array([], pa.string()),
                "version": pa.array([], pa.string()),
                "item_id": pa.array([], pa.string()),
                "factors": pa.array([], pa.list_(pa.float32())),
            }
        ),
    }


def _judged(candidate: str, algorithm: str, margin: float = 0.0) -> promotion.Judged:
    return promotion.Judged(
        tenant_id="t",
        active=promotion.Version("v1", "popularity", None, {}),
        candidate=promotion.Version(candidate, algorithm, None, {"ease_lambda": 0.001}),
        cutoff=CUTOFF,
        window_customers=4,
        k=2,
        history_cap=20,
        half_life_days=1.0,
        margin=margin,
    )


FORMS = _forms(
    # v1: a, b most popular: c1 gets [b, c] (c at rank 2), c2 gets [a, c] (no hit)
    # v2: c, d: c1 gets [c, d] (hit at 1), c2 gets [c, d] (d at 2)
    {"v1": ["a", "b", "c", "d"], "v2": ["c", "d", "a", "b"], "v3": ["a", "b", "c", "d"]},
    [
        # v4, co-occurrence: a -> c, b -> d (and weaker b -> c): c1 [c], c2 [d, c]
        ("v4", "cooccurrence", "a", "c", 1.0),
        ("v4", "cooccurrence", "b", "d", 0.5),
        ("v4", "cooccurrence", "b", "c", 0.2),
        # v5, EASE weights: a -> d, b -> c: c1 [d], c2 [c]: no hit
        ("v5", "ease", "a", "d", 1.0),
        ("v5", "ease", "b", "c", 1.0),
    ],
)


@pytest.mark.parametrize(
    ("candidate", "algorithm", "margin", "expected"),
    [
        ("v2", "popularity", 0.0, ("promoted", (1 + AT_2) / 2)),
        # the same gain, but not by more than the margin
        ("v2", "popularity", 0.6, ("rejected", (1 + AT_2) / 2)),
        # a tie keeps the active version
        ("v3", "popularity", 0.0, ("rejected", AT_2 / 2)),
        ("v4", "cooccurrence", 0.0, ("promoted", 1.0)),
        ("v5", "ease", 0.0, ("rejected", 0.0)),
    ],
)
def test_a_candidate_is_promoted_only_when_it_beats_the_active_version(
    candidate: str, algorithm: str, margin: float, expected: tuple[str, float]
) -> None:
    [row] = promotion.judge(
        [_judged(candidate, algorithm, margin)], _interactions(), ITEMS, FORMS
    ).to_pylist()
    verdict, candidate_ndcg = expected
    assert row["verdict"] == verdict
    assert row["judged_customers"] == 2  # c1 and c2: c3 bought nothing new, c4 had no history
    assert row["active_ndcg"] == pytest.approx(AT_2 / 2)
    assert row["candidate_ndcg"] == pytest.approx(candidate_ndcg)
    assert row["reason"].startswith(f"{verdict}: NDCG@2 {candidate_ndcg:.4f}")


def test_no_customer_to_judge_on_rejects_the_candidate() -> None:
    quiet = _interactions().filter(pa.compute.invert(pa.compute.field("is_bought_after")))
    [row] = promotion.judge([_judged("v2", "popularity")], quiet, ITEMS, FORMS).to_pylist()
    assert (row["verdict"], row["judged_customers"]) == ("rejected", 0)
    assert "no customer with a history" in row["reason"]


def _ranked_forms(weights: tuple[float, ...] = (0, 0, 0, 0, 0, 1)) -> dict[str, pa.Table]:
    """FORMS, plus v6's EASE weights (a -> d 1.0, c 0.9; b -> c 1.0, d 0.9: c1 [d, c], c2
    [c, d]), its stored popularity and trends (c bought by 10 customers lately, d by none),
    and the ranker of v6 stored as a ranked version's: ``weights`` (by default, as an older
    recsql stored them, six: it ranks by recent buyers alone)."""
    neighbours = pa.Table.from_pylist(
        [
            {"tenant_id": "t", "version": "v6", "algorithm": "ease", "item_id": item,
             "neighbour_item_id": neighbour, "weight": weight}
            for item, neighbour, weight in (("a", "d", 1.0), ("a", "c", 0.9),
                                            ("b", "c", 1.0), ("b", "d", 0.9))
        ],
        schema=FORMS["neighbours"].schema,
    )  # fmt: skip
    popularity = pa.Table.from_pylist(
        [
            {"tenant_id": "t", "version": version, "country": None, "item_id": item,
             "score": 1.0, "buyers": 1, "popularity_rank": rank}
            for version in ("v1", "v6")
            for rank, item in enumerate("abcd", 1)
        ]
    )  # fmt: skip
    return {
        **FORMS,
        "neighbours": pa.concat_tables([FORMS["neighbours"], neighbours]),
        "popularity": popularity,
        "trends": pa.Table.from_pylist(
            [
                {
                    "tenant_id": "t",
                    "version": "v6",
                    "item_id": "c",
                    "score": 2.0,
                    "recent_buyers": 10,
                }
            ]
        ),
        "rankers": pa.Table.from_pylist(
            [{"tenant_id": "t", "version": "v6", "weights": [float(w) for w in weights]}]
        ),
    }


#: A ranker of the category share alone (ranker.FEATURES).
BY_CATEGORY = (0, 0, 0, 0, 0, 0, 0, 1, 0)


@pytest.mark.parametrize(
    ("variant", "weights", "candidate_ndcg"),
    [
        # ranked by its stored ranker: c (bought lately) first for both: c1 hit at 1, c2 at 2
        ("sqrt ranked", (0, 0, 0, 0, 0, 1), (1 + AT_2) / 2),
        # by the category of what each bought before the cutoff (the judged histories): c1
        # bought a, so c (a's category) first; c2 bought b, so d first: both hit at 1
        ("sqrt ranked", BY_CATEGORY, 1.0),
        # the same weights served in the model's own order: c1 [d, c], c2 [c, d]
        ("sqrt", (0, 0, 0, 0, 0, 1), AT_2),
        ("sqrt", BY_CATEGORY, AT_2),
    ],
)
def test_a_ranked_version_is_judged_by_the_lists_its_ranker_makes(
    variant: str, weights: tuple[float, ...], candidate_ndcg: float
) -> None:
    judged = _judged("v6", "ease")
    judged = promotion.Judged(
        **{
            **judged.__dict__,
            "candidate": promotion.Version(
                "v6", "ease", variant, {"ease_lambda": 0.001, "candidates_n": 10}
            ),
        }
    )
    [row] = promotion.judge([judged], _interactions(), ITEMS, _ranked_forms(weights)).to_pylist()
    assert row["candidate_ndcg"] == pytest.approx(candidate_ndcg)
    assert row["active_ndcg"] == pytest.approx(AT_2 / 2)


def _blend_weights(**named: float) -> list[float]:
    """A blend's weights (blend.features of its makers) with the named ones set."""
    names = blend.features(blend.MAKERS)
    return [float(named.get(name.replace(":", "_"), 0.0)) for name in names]


@pytest.mark.parametrize(
    ("weights", "candidate_ndcg"),
    [
        # by the binary variant's ranks: c1 [c, d], c2 [d, c] - what only it offers first
        (_blend_weights(binary_log_rank=-1.0), 1.0),
        (_blend_weights(binary_offered=1.0), 1.0),
        # by the sqrt variant's: c1 [d, c], c2 [c, d]
        (_blend_weights(sqrt_log_rank=-1.0), AT_2),
    ],
)
def test_a_blend_version_is_judged_by_the_union_its_blend_ranks(
    weights: list[float], candidate_ndcg: float
) -> None:
    """A blend version's stored weights of both EASE variants (the sqrt variant's as 'ease': c1
    is offered d then c, c2 c then d; the binary variant's as 'ease binary': c1 only c, c2
    only d), their candidates' union ranked by its stored blend."""
    judged = _judged("v6", "ease")
    judged = promotion.Judged(
        **{
            **judged.__dict__,
            "candidate": promotion.Version(
                "v6", "ease", blend.VARIANT, {"ease_lambda": 0.001, "candidates_n": 10}
            ),
        }
    )
    forms = _ranked_forms(weights)
    binary = pa.Table.from_pylist(
        [
            {"tenant_id": "t", "version": "v6", "algorithm": "ease binary", "item_id": item,
             "neighbour_item_id": neighbour, "weight": 1.0}
            for item, neighbour in (("a", "c"), ("b", "d"))
        ],
        schema=FORMS["neighbours"].schema,
    )  # fmt: skip
    forms["neighbours"] = pa.concat_tables([forms["neighbours"], binary])
    [row] = promotion.judge([judged], _interactions(), ITEMS, forms).to_pylist()
    assert row["candidate_ndcg"] == pytest.approx(candidate_ndcg)
