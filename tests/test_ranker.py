"""The learned ranker (recsql/engine/ranker.py): what it learns from a planted signal, its
cross-fitted lists, re-ranking served candidates, and that its features never read past
their fold (a build whose holdout window is rewritten trains on the same features)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from recsql.build import BuildResult
from recsql.datasets.generator import generate
from recsql.engine import blend, ranker
from tests.conftest import query


def _examples(
    seed: int = 0, customers: int = 200, depth: int = 20, signal: float = 3.0
) -> pa.Table:
    """Candidates of one EASE model whose buyers are planted: an item's chance to be bought
    grows with its recent buyers (``signal``), not with the model's score (noise). The item
    columns are the item's, the same in every customer's rows."""
    rng = np.random.default_rng(seed)
    n = customers * depth
    recent_of, buyers_of, popularity_of = (
        rng.integers(0, 30, 500),
        rng.integers(1, 100, 500),
        rng.random(500) * 50,
    )
    items = np.concatenate([rng.choice(500, depth, replace=False) for _ in range(customers)])
    score = rng.normal(size=(customers, depth))
    score = -np.sort(-score, axis=1).ravel()  # the model's order: best score first
    logit = -4.0 + signal * np.log1p(recent_of[items]) / np.log1p(30)
    bought = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pa.table(
        {
            "tenant_id": ["t1"] * n,
            "algorithm": ["ease"] * n,
            "variant": ["sqrt"] * n,
            "customer_id": [f"c{c:04d}" for c in np.repeat(np.arange(customers), depth)],
            "rank": np.tile(np.arange(1, depth + 1), customers),
            "item_id": [f"i{i}" for i in items],
            "score": score,
            "buyers": buyers_of[items],
            "popularity": popularity_of[items],
            "trend_score": pa.array([None] * n, pa.float64()),
            "recent_buyers": recent_of[items],
            "is_bought": bought,
            "cross_fit_group": np.repeat(np.arange(customers) % 2, depth),
        }
    )


CANDIDATE_COLUMNS = ["tenant_id", "algorithm", "variant", "customer_id", "rank", "item_id", "score"]


def _candidates(examples: pa.Table) -> pa.Table:
    """The examples as served candidates: no item columns, no label."""
    return examples.select(CANDIDATE_COLUMNS)


def _items(examples: pa.Table) -> pa.Table:
    """Each (tenant, item) of the examples once, with its item columns."""
    columns = ["tenant_id", "item_id", *ranker.ITEM_COLUMNS]
    return examples.select(columns).group_by(columns, use_threads=False).aggregate([])


def _only(feature: str) -> list[float]:
    """Weights of one of the ranker's features alone."""
    return [float(name == feature) for name in ranker.FEATURES]


def test_the_ranker_learns_the_planted_signal_and_ranks_by_it() -> None:
    examples = _examples()
    [row] = ranker.fit(examples, {}).to_pylist()
    assert row["variant"] == "sqrt ranked"
    assert row["features"] == list(ranker.FEATURES)
    weights = dict(zip(row["features"], row["weights"], strict=True))
    assert weights["log_recent_buyers"] > 0.5
    assert weights["log_recent_buyers"] == max(weights.values(), key=abs)

    # served candidates of that tenant: the ranker puts the items many bought lately first
    one = examples.filter(pa.compute.equal(examples["customer_id"], "c0000"))
    reranked = ranker.rerank(_candidates(one), {"t1": row["weights"]}, _items(examples), {})
    assert reranked.column_names == CANDIDATE_COLUMNS
    reranked = reranked.sort_by("rank")
    assert reranked["rank"].to_pylist() == list(range(1, one.num_rows + 1))
    recent = dict(zip(one["item_id"].to_pylist(), one["recent_buyers"].to_pylist(), strict=True))
    by_rank = [recent[item] for item in reranked["item_id"].to_pylist()]
    assert by_rank[0] >= sorted(by_rank)[-3]  # among the three most bought lately
    assert np.corrcoef(np.arange(len(by_rank)), by_rank)[0, 1] < -0.8


def test_cross_fitted_lists_hold_k_ranked_items_per_customer() -> None:
    lists = ranker.cross_fitted_lists(_examples(), {}, {"t1": 10})
    assert set(lists["variant"].to_pylist()) == {"sqrt ranked"}
    per_customer = lists.group_by("customer_id").aggregate([("rank", "count"), ("rank", "max")])
    assert per_customer.num_rows == 200
    assert set(per_customer["rank_count"].to_pylist()) == {10}
    assert set(per_customer["rank_max"].to_pylist()) == {10}


def test_the_cross_fitted_order_beats_the_models_own_on_fresh_customers() -> None:
    """Fitted on one world, scored on another drawn the same way: the ranked top 5 holds more
    bought items than the model's top 5 (the model's score is noise there)."""
    [row] = ranker.fit(_examples(seed=1), {}).to_pylist()
    fresh = _examples(seed=2)
    ranked = ranker.rerank(_candidates(fresh), {"t1": row["weights"]}, _items(fresh), {})
    bought = {
        (c, r): b
        for c, r, b in zip(
            fresh["customer_id"].to_pylist(),
            fresh["item_id"].to_pylist(),
            fresh["is_bought"].to_pylist(),
            strict=True,
        )
    }
    top = ranked.filter(pa.compute.less_equal(ranked["rank"], 5))
    ranked_hits = sum(
        bought[c, i]
        for c, i in zip(top["customer_id"].to_pylist(), top["item_id"].to_pylist(), strict=True)
    )
    model_hits = sum(fresh.filter(pa.compute.less_equal(fresh["rank"], 5))["is_bought"].to_pylist())
    assert ranked_hits > 1.15 * model_hits


def test_a_holdout_with_too_few_purchases_learns_no_ranker() -> None:
    examples = _examples(customers=10, signal=0.0)
    assert ranker.fit(examples, {}).num_rows == 0
    assert ranker.cross_fitted_lists(examples, {}, {"t1": 10}).num_rows == 0


def test_rerank_leaves_tenants_without_a_ranker_as_they_are() -> None:
    examples = _examples(customers=3, depth=4)
    other = examples.set_column(0, "tenant_id", pa.array(["t2"] * examples.num_rows))
    both = pa.concat_tables([examples, other])
    weights = _only("log_recent_buyers")
    out = ranker.rerank(_candidates(both), {"t1": weights}, _items(both), {})
    kept = out.filter(pa.compute.equal(out["tenant_id"], "t2"))
    assert kept.to_pylist() == _candidates(other).to_pylist()
    assert out.num_rows == both.num_rows


def test_rerank_in_chunks_ranks_as_in_one_go() -> None:
    """A large tenant's candidates are re-ranked a chunk of customers at a time (the chunk
    ends where a customer's rows end): any chunk size gives the same ranks and scores."""
    examples = _examples(customers=40, depth=7, seed=9)
    grouped = _candidates(examples)  # each customer's rows together, best first: as served
    candidates = grouped.take(pa.array(np.random.default_rng(1).permutation(len(grouped))))
    weights = [0.5, -0.2, 0.1, -0.3, 0.0, 1.0]
    whole = ranker.rerank(candidates, {"t1": weights}, _items(examples), {})
    for chunk_rows in (1, 5, 7, 50):
        chunked = ranker.rerank(candidates, {"t1": weights}, _items(examples), {}, chunk_rows)
        assert chunked.to_pylist() == whole.to_pylist()
    assert whole["rank"].to_pylist() != candidates["rank"].to_pylist()
    # rows as the engine gives them (no sort needed) are ranked the same
    key = ["customer_id", "item_id", "rank"]
    assert sorted(ranker.rerank(grouped, {"t1": weights}, _items(examples), {}, 5)
                  .select(key).to_pylist(), key=str) == sorted(
        whole.select(key).to_pylist(), key=str
    )  # fmt: skip


@pytest.mark.parametrize(
    ("variant", "ranked", "base"),
    [
        ("sqrt", "sqrt ranked", "sqrt"),
        (None, "ranked", None),
        ("binary", "binary ranked", "binary"),
    ],
)
def test_ranked_variant_names_round_trip(
    variant: str | None, ranked: str, base: str | None
) -> None:
    assert ranker.ranked_variant(variant) == ranked
    assert ranker.is_ranked(ranked) and not ranker.is_ranked(variant)
    assert ranker.base_variant(ranked) == base
    assert ranker.base_variant(variant) == variant


def test_score_z_is_standardised_within_each_customer() -> None:
    columns = {
        "customer_id": np.array(["a", "a", "a", "b"], dtype=object),
        "rank": np.array([1, 2, 3, 1]),
        "score": np.array([3.0, 2.0, 1.0, 7.0]),
        "buyers": np.array([1, 2, 3, 4]),
        "popularity": np.array([0.5, 1.0, 1.5, 2.0]),
        "trend_score": np.array([None, 2.0, None, None], dtype=object),
        "recent_buyers": np.array([None, 3, None, None], dtype=object),
        "item_age_days": np.array([0.0, np.e - 1, np.nan, -2.0]),
        "category_share": np.array([0.5, 0.0, np.nan, 1.0]),
        "log_price_ratio": np.array([0.3, -0.7, np.nan, 0.0]),
    }
    x = ranker.design_matrix(columns)
    assert x.shape == (4, len(ranker.FEATURES))
    assert x[:3, 0] == pytest.approx([np.sqrt(1.5), 0.0, -np.sqrt(1.5)])
    assert x[3, 0] == 0.0  # one candidate: no spread
    assert x[:, 1] == pytest.approx(np.log([1, 2, 3, 1]))
    assert x[:, 4] == pytest.approx([0.0, np.log(2.0), 0.0, 0.0])
    assert x[:, 5] == pytest.approx([0.0, np.log(4.0), 0.0, 0.0])
    # the context: unknown (NaN) is 0, a negative age (bought after the reference) is new
    assert x[:, 6] == pytest.approx([0.0, 1.0, 0.0, 0.0])
    assert x[:, 7] == pytest.approx([0.5, 0.0, 0.0, 1.0])
    assert x[:, 8] == pytest.approx([0.3, -0.7, 0.0, 0.0])


# --------------------------------------------------------------------------------------------
# No leakage: the features of the holdout fold are the same whatever the holdout window holds


def _rewritten_window(source: Path, target: Path) -> Path:
    """The generated inputs with the items of every purchase in the holdout window (the last
    30 days, the default holdout_days) shuffled among those purchases: same customers, times
    and counts, other items bought."""
    target.mkdir(parents=True)
    con = duckdb.connect()
    try:
        for parquet in source.glob("*.parquet"):
            if parquet.name.startswith("_"):
                continue
            select = f"select * from read_parquet('{parquet}')"
            if parquet.name == "interactions.parquet":
                select = f"""
                    with rows as ({select}),
                    bounds as (
                        select tenant_id, max(occurred_at) - interval 30 days as cutoff
                        from rows group by tenant_id
                    ),
                    numbered as (
                        select rows.*, rows.occurred_at >= bounds.cutoff as in_window,
                            row_number() over (partition by rows.tenant_id, in_window
                                order by rows.occurred_at, rows.customer_id, rows.item_id)
                                as position,
                            row_number() over (partition by rows.tenant_id, in_window
                                order by hash(rows.item_id, rows.customer_id, rows.occurred_at))
                                as shuffled
                        from rows join bounds using (tenant_id)
                    )
                    select numbered.* exclude (item_id, in_window, position, shuffled),
                        if(numbered.in_window and numbered.event_type = 'purchase',
                            other.item_id, numbered.item_id) as item_id
                    from numbered
                    left join numbered as other
                        on numbered.tenant_id = other.tenant_id and other.in_window
                            and numbered.in_window and numbered.position = other.shuffled
                """
            con.execute(f"copy ({select}) to '{target / parquet.name}'")
    finally:
        con.close()
    return target


def _holdout_context(build_db: Path) -> dict[str, np.ndarray]:
    """The context columns of every (customer, item) of the ranker's examples, from the
    holdout fold of the build (ranker.holdout_contexts, as models/engine/rankers.py calls it)."""
    con = duckdb.connect(str(build_db), read_only=True)
    try:
        pairs = con.sql(
            "select distinct tenant_id, customer_id, item_id from engine.int_ranking_examples "
            "order by all"
        ).to_arrow_table()
        contexts = ranker.holdout_contexts(
            pairs,
            con.sql("from engine.int_interactions_weighted"),
            con.sql("from staging.stg_items"),
            con.sql("from base.int_folds_defined"),
        )
    finally:
        con.close()
    [(tenant_id, context)] = contexts.items()
    assert set(pairs["tenant_id"].to_pylist()) == {tenant_id}
    return context.columns(context.customers(pairs["customer_id"]), context.items(pairs["item_id"]))


@pytest.mark.slow
def test_no_feature_of_the_ranker_reads_past_its_fold(tmp_path: Path, build_inputs) -> None:
    generated = tmp_path / "generated"
    generate(generated, tenants=1, customers=300, items=120, interactions=6000, seed=5)
    builds: list[BuildResult] = [
        build_inputs(generated, tmp_path / "as_is.duckdb"),
        build_inputs(
            _rewritten_window(generated, tmp_path / "rewritten"), tmp_path / "other.duckdb"
        ),
    ]
    features = (
        "select tenant_id, algorithm, variant, customer_id, rank, item_id, round(score, 5), "
        "buyers, round(popularity, 6), round(trend_score, 6), recent_buyers, cross_fit_group "
        "from engine.int_ranking_examples order by all"
    )
    labels = "select count(*) filter (where is_bought) from engine.int_ranking_examples"
    as_is, other = (query(b.build_db, features) for b in builds)
    assert as_is, "the ranker had no examples"
    assert as_is == other
    # (the blend of EASE's two variants, recsql/engine/blend.py, is made of these rows - both
    # variants' - and the context below, nothing else)
    # the context, made as the ranker's models make it: from the holdout fold
    as_is, other = (_holdout_context(b.build_db) for b in builds)
    assert np.count_nonzero(as_is["category_share"]) > 0
    assert np.isfinite(as_is["log_price_ratio"]).any() and np.isfinite(as_is["item_age_days"]).any()
    for name in ranker.CONTEXT_COLUMNS:
        np.testing.assert_array_equal(as_is[name], other[name])
    # the window did change: what the customers bought in it, hence the labels
    assert query(builds[0].build_db, labels) != query(builds[1].build_db, labels)


def test_only_models_whose_halves_can_each_learn_reach_python() -> None:
    """learnable keeps a model's rows when each half of its customers has enough bought and
    unbought candidates; a model (here ALS, no variant) with too few purchases stays in SQL."""
    rich = _examples()
    poor = _examples(customers=10, signal=0.0, seed=3)
    poor = poor.set_column(1, "algorithm", pa.array(["als"] * poor.num_rows)).set_column(
        2, "variant", pa.array([None] * poor.num_rows, pa.string())
    )
    con = duckdb.connect()
    con.register("examples", pa.concat_tables([rich, poor]))
    kept = ranker.learnable(con.table("examples")).to_arrow_table()
    assert kept.num_rows == rich.num_rows
    assert set(kept["algorithm"].to_pylist()) == {"ease"}
    assert kept.column_names == rich.column_names
    assert (
        ranker.learnable(con.table("examples"), min_examples=10_000).to_arrow_table().num_rows == 0
    )


# --------------------------------------------------------------------------------------------
# A ranked version kept by a later build serves with its stored ranker

DEMO = Path(__file__).resolve().parent.parent / "data" / "demo"
CUTOFF = "2011-11-09 00:00:00"


@pytest.mark.slow
def test_a_kept_ranked_version_serves_the_lists_its_ranker_made(
    tmp_path: Path, build_inputs
) -> None:
    """The demo before 2011-11-09 (its champion: EASE's blend of its two variants, ranked). The
    next night one customer buys something and nothing is retrained: the version is kept,
    scored from the state (both variants' stored weights and its blend), and every other
    customer's list is the one its blend made the night it was trained."""
    data = tmp_path / "data"
    data.mkdir()
    con = duckdb.connect()
    interactions = f"read_parquet('{DEMO / 'interactions.parquet'}')"
    con.execute(
        f"copy (select * from {interactions} where occurred_at < timestamp '{CUTOFF}') "
        f"to '{data / 'interactions.parquet'}'"
    )
    for name in ("items", "customers"):
        con.execute(f"copy (from read_parquet('{DEMO / name}.parquet')) to '{data / name}.parquet'")
    db = tmp_path / "recsql.duckdb"
    lists = (
        "select customer_id, rank, item_id from recommendations where customer_id <> '12347' "
        "order by customer_id, rank"
    )
    version = "select version, variant from model_registry where status = 'active'"

    build_inputs(data, db, as_of=CUTOFF)
    [(trained, variant)] = query(db, version)
    assert variant == blend.VARIANT, "the demo's champion is no longer the blend: pick a world"
    state = db.with_name("recsql.state.duckdb")
    assert query(state, "select count(*) from stored_rankers where version = ?", [trained]) == [
        (1,)
    ]
    stored = "select distinct algorithm from stored_neighbours where version = ? order by 1"
    assert query(state, stored, [trained]) == [("cooccurrence",), ("ease",), ("ease binary",)]
    first = query(db, lists)

    # one customer's purchase the next morning: the tenant is scored again, not carried
    con.execute(
        f"copy (select * replace (timestamp '{CUTOFF}' + interval 1 hour as occurred_at) "
        f"from {interactions} where customer_id = '12347' and event_type = 'purchase' "
        f"limit 1) to '{data / 'interactions_new.parquet'}'"
    )
    con.execute(
        f"copy (from read_parquet(['{data / 'interactions.parquet'}', "
        f"'{data / 'interactions_new.parquet'}'])) to '{tmp_path / 'all.parquet'}'"
    )
    (data / "interactions_new.parquet").unlink()
    (tmp_path / "all.parquet").replace(data / "interactions.parquet")
    con.close()
    build_inputs(data, db, as_of="2011-11-10 00:00:00", retrain="none")
    assert query(db, version) == [(trained, variant)]
    night = "select carried from build_history where as_of = timestamp '2011-11-10 00:00:00'"
    assert query(db, night) == [(False,)]
    assert query(db, lists) == first


def test_rerank_orders_each_tenants_customers_by_their_own_ranker() -> None:
    """Two ranked tenants whose customer ids overlap, rows in any order: each customer's
    candidates ranked 1..n by their tenant's weights (one tenant ranks by recent buyers, the
    other against them)."""
    one = _examples(customers=5, depth=6, seed=4)
    two = _examples(customers=5, depth=6, seed=5)
    two = two.set_column(0, "tenant_id", pa.array(["t2"] * two.num_rows))
    both = pa.concat_tables([one, two])
    shuffled = _candidates(both).take(pa.array(np.random.default_rng(0).permutation(len(both))))
    by_recent = _only("log_recent_buyers")
    out = ranker.rerank(
        shuffled, {"t1": by_recent, "t2": [-w for w in by_recent]}, _items(both), {}
    )
    assert out.num_rows == both.num_rows
    recent = {
        (t, c, i): r
        for t, c, i, r in zip(
            *(both[name].to_pylist() for name in ("tenant_id", "customer_id", "item_id")),
            both["recent_buyers"].to_pylist(),
            strict=True,
        )
    }
    for tenant, sign in (("t1", -1), ("t2", 1)):
        for customer in {c for c in both["customer_id"].to_pylist()}:
            rows = sorted(
                (r, i)
                for t, c, r, i in zip(
                    *(out[name].to_pylist() for name in ("tenant_id", "customer_id", "rank")),
                    out["item_id"].to_pylist(),
                    strict=True,
                )
                if (t, c) == (tenant, customer)
            )
            assert [r for r, _ in rows] == list(range(1, len(rows) + 1))
            by_rank = [recent[tenant, customer, i] for _, i in rows]
            assert by_rank == sorted(by_rank, key=lambda v: sign * v)


# --------------------------------------------------------------------------------------------
# The context: what the customer bought before the reference time, and what the item is

REFERENCE = datetime(2026, 1, 31)


def _purchases(tenant_id: str, rows: list[tuple[str, str, str]]) -> pa.Table:
    return pa.table(
        {
            "tenant_id": [tenant_id] * len(rows),
            "customer_id": [customer for customer, _, _ in rows],
            "item_id": [item for _, item, _ in rows],
            "first_purchased_at": pa.array(
                [datetime.fromisoformat(day) for _, _, day in rows], pa.timestamp("us")
            ),
        }
    )


#: t1's items: a and c toys, b and e food, d without category or price; e free.
CATALOGUE = pa.table(
    {
        "tenant_id": ["t1"] * 5,
        "item_id": ["a", "b", "c", "d", "e"],
        "category": ["toys", "food", "toys", None, "food"],
        "price": [10.0, 2.5, 20.0, None, 0.0],
    }
)

#: c1 bought a toy and food, c2 a toy later, c3 only an item the catalogue does not list.
PURCHASES = _purchases(
    "t1",
    [
        ("c1", "a", "2026-01-01"),
        ("c1", "b", "2026-01-21"),
        ("c2", "a", "2026-01-11"),
        ("c3", "x", "2026-01-30"),
    ],
)


def test_the_context_of_a_customer_and_an_item_has_known_values() -> None:
    [context] = ranker.contexts(PURCHASES, CATALOGUE, {"t1": REFERENCE}).values()
    pairs = [
        ("c1", "c"), ("c1", "b"), ("c2", "c"), ("c2", "e"), ("c3", "a"), ("c9", "a"),
        ("c1", "d"), ("c1", "zz"), ("c3", "x"),
    ]  # fmt: skip
    columns = context.columns(
        context.customers(pa.array([c for c, _ in pairs])),
        context.items(pa.array([i for _, i in pairs])),
    )
    # days since the item was first bought by anyone: a on 01-01, b on 01-21, x on 01-30;
    # c, d, e never bought (NaN), zz unknown
    nan = np.nan
    assert columns["item_age_days"] == pytest.approx(
        [nan, 10, nan, nan, 30, 30, nan, nan, 1], nan_ok=True
    )
    # as of another time (a version's data_until): the same items, aged to it
    later = context.as_of(REFERENCE + timedelta(days=5)).columns(
        context.customers(pa.array(["c1"])), context.items(pa.array(["b"]))
    )
    assert later["item_age_days"] == pytest.approx([15])
    # the share of the customer's bought items in the item's category: c1 half toys, half
    # food; c2 all toys; c3's item has no category; c9 bought nothing; d has no category
    assert columns["category_share"] == pytest.approx([0.5, 0.5, 1.0, 0.0, 0.0, 0, 0, 0, 0])
    # ln(price) less the mean ln(price) of what the customer bought: c1's mean is ln 5, c2's
    # ln 10; a free item counts as MIN_PRICE; c3 bought nothing priced, c9 nothing, d no price
    assert columns["log_price_ratio"] == pytest.approx(
        [np.log(4), np.log(0.5), np.log(2), np.log(ranker.MIN_PRICE / 10), nan, nan, nan,
         nan, nan],
        nan_ok=True,
    )  # fmt: skip


def test_rerank_orders_by_the_context_of_each_tenant() -> None:
    """Two tenants with the same customer and item ids: each customer's candidates ranked by
    the category share of their own tenant's purchases, against the model's order."""
    other_catalogue = CATALOGUE.set_column(0, "tenant_id", pa.array(["t2"] * 5))
    contexts = ranker.contexts(
        # in t2, c2 bought food, not a toy
        pa.concat_tables([PURCHASES, _purchases("t2", [("c2", "b", "2026-01-11")])]),
        pa.concat_tables([CATALOGUE, other_catalogue]),
        {"t1": REFERENCE, "t2": REFERENCE},
    )
    candidates = pa.table(
        {
            "tenant_id": ["t1", "t1", "t2", "t2"],
            "algorithm": ["ease"] * 4,
            "variant": ["sqrt"] * 4,
            "customer_id": ["c2"] * 4,
            "rank": [1, 2, 1, 2],
            "item_id": ["b", "c", "c", "e"],
            "score": [2.0, 1.0, 2.0, 1.0],
        }
    )
    weights = _only("category_share")
    no_items = pa.schema(
        [("tenant_id", pa.string()), ("item_id", pa.string())]
        + [(name, pa.float64()) for name in ranker.ITEM_COLUMNS]
    ).empty_table()
    out = ranker.rerank(candidates, {"t1": weights, "t2": weights}, no_items, contexts)
    columns = (out[name].to_pylist() for name in ("tenant_id", "item_id", "rank"))
    ranked = {(tenant, item): rank for tenant, item, rank in zip(*columns, strict=True)}
    assert ranked == {("t1", "c"): 1, ("t1", "b"): 2, ("t2", "e"): 1, ("t2", "c"): 2}
    # without a context the features are unknown: every score ties, the model's order stays
    kept = ranker.rerank(candidates, {"t1": weights, "t2": weights}, no_items, {})
    assert kept["rank"].to_pylist() == [1, 2, 1, 2]
