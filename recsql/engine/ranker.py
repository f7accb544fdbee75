"""The learned ranker: a matrix model's candidates re-ordered by what is selling now.

A matrix model (EASE, ALS) ranks a customer's candidates by how well they fit the customer's
history. It does not know which of them are in demand *now*: on retail data the items bought
in the next weeks are, more often than their score says, those many customers bought lately.
The ranker re-orders each customer's top ``candidates_n`` candidates by a logistic regression
learned per tenant on its holdout fold (docs/engine.md#the-learned-ranker), from
:data:`FEATURES`:

- ``score_z``: the model's score, standardised within the customer's candidates;
- ``log_rank``: ``ln(rank)`` of the candidate in the model's order;
- ``log_buyers``: ``ln(1 + distinct buyers)`` of the item (``item_popularity``, the tenant);
- ``log_popularity``: ``ln(1 + time-decayed buyers)``, the item's popularity score;
- ``log_trend``: ``ln`` of its trending score (``item_trends``; 0 when it is not trending);
- ``log_recent_buyers``: ``ln(1 + buyers in the last trending_days)`` (0 when not trending).

Every feature is as of the fold's reference time: the candidates come from a model fitted
before it, the item features from that fold's popularity and trends. The label is whether
the customer bought the item (never bought before) in the holdout window. The same weights
then rank the full fold's candidates with the full fold's (or a kept version's) features.

Only a tenant whose holdout has enough examples on both sides learns a ranker; its ranked
lists are evaluated cross-fitted (each half of the customers ranked by a model fitted on the
other half) and compete for the champion like any other variant (``<variant> ranked``).
No dbt here: the dbt models hand over the holdout examples (with their item features joined
in SQL; :func:`learnable` narrows their relation in DuckDB) and the served candidates with the
version's item features, which :func:`rerank` looks up itself.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recsql.engine.repurchase import RepurchaseModel, can_learn
from recsql.engine.tenancy import grouped_by_tenant

__all__ = [
    "FEATURES",
    "RANKERS_SCHEMA",
    "base_variant",
    "cross_fitted_lists",
    "design_matrix",
    "fit",
    "is_ranked",
    "learnable",
    "ranked_variant",
    "rerank",
]

#: The ranker's features, in the order of its weights (module docstring).
FEATURES = (
    "score_z",
    "log_rank",
    "log_buyers",
    "log_popularity",
    "log_trend",
    "log_recent_buyers",
)

#: What the ranker knows of an item, as the holdout examples and the items table of
#: :func:`rerank` carry it (NULL: the item is not there, e.g. not trending): buyers and
#: popularity from item_popularity (the tenant, not a country), trend_score and recent_buyers
#: from item_trends.
ITEM_COLUMNS = ("buyers", "popularity", "trend_score", "recent_buyers")

#: One row per tenant, algorithm and ranked variant (:func:`ranked_variant`) that learned a
#: ranker: its weights on the raw :data:`FEATURES` (standardisation folded in; no intercept:
#: it ranks).
RANKERS_SCHEMA = pa.schema(
    [
        pa.field("tenant_id", pa.string()),
        pa.field("algorithm", pa.string()),
        pa.field("variant", pa.string()),
        pa.field("features", pa.list_(pa.string())),
        pa.field("weights", pa.list_(pa.float64())),
    ]
)

_SUFFIX = "ranked"

#: A list-maker learns a ranker when its holdout has at least this many bought and unbought
#: candidates (in each half of its customers: :func:`learnable`).
MIN_EXAMPLES = 20


def ranked_variant(variant: str | None) -> str:
    """The variant name of a model's ranked lists: ``"sqrt"`` -> ``"sqrt ranked"``."""
    return f"{variant} {_SUFFIX}" if variant else _SUFFIX


def is_ranked(variant: str | None) -> bool:
    return variant is not None and (variant == _SUFFIX or variant.endswith(" " + _SUFFIX))


def base_variant(variant: str | None) -> str | None:
    """The model's own variant of a (possibly ranked) variant: ``"sqrt ranked"`` -> ``"sqrt"``,
    ``"ranked"`` -> None."""
    if not is_ranked(variant):
        return variant
    assert variant is not None
    return variant.removesuffix(_SUFFIX).strip() or None


def _run_starts(customers: np.ndarray) -> np.ndarray:
    """Where each run of equal values of ``customers`` starts."""
    return np.flatnonzero(np.r_[True, customers[1:] != customers[:-1]])


def design_matrix(columns: Mapping[str, np.ndarray]) -> np.ndarray:
    """:data:`FEATURES` of candidate rows of one list-maker (one tenant, algorithm and variant),
    sorted by customer: customer_id, rank, score and :data:`ITEM_COLUMNS`."""
    customers = columns["customer_id"]
    starts = _run_starts(customers)
    group = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, customers.size]))
    score = columns["score"].astype(float)
    counts = np.bincount(group)
    mean = np.bincount(group, score) / counts
    spread = np.sqrt(np.maximum(np.bincount(group, score**2) / counts - mean**2, 0.0))
    deviation = score - mean[group]
    score_z = np.divide(
        deviation, spread[group], out=np.zeros_like(deviation), where=spread[group] > 1e-12
    )

    def item(name: str) -> np.ndarray:
        values = columns[name]
        values = values.astype(float) if values.dtype != object else _floats(values)
        return np.nan_to_num(values, nan=0.0)

    trend = item("trend_score")
    return np.column_stack(
        [
            score_z,
            np.log(columns["rank"].astype(float)),
            np.log1p(np.maximum(item("buyers"), 0)),
            np.log1p(np.maximum(item("popularity"), 0)),
            np.log(np.where(trend > 0, trend, 1.0)),
            np.log1p(np.maximum(item("recent_buyers"), 0)),
        ]
    )


def _floats(values: np.ndarray) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=float)


def _raw_weights(model: RepurchaseModel) -> np.ndarray:
    """The model's coefficients on the raw features (its standardisation folded in)."""
    return model.coef_[1:] / model.scale_


def _groups(
    table: pa.Table, columns: Mapping[str, np.ndarray]
) -> Iterator[tuple[tuple[str, str, str | None], slice]]:
    """Each (tenant, algorithm, variant) of ``table`` (sorted by them; ``columns``: its
    :func:`_coded` arrays), and its rows."""
    n = table.num_rows
    if n == 0:
        return
    starts = np.zeros(n, dtype=bool)
    starts[0] = True
    for name in ("tenant_id", "algorithm", "variant"):
        values = columns[name]
        starts[1:] |= values[1:] != values[:-1]
    bounds = [*np.flatnonzero(starts).tolist(), n]
    for start, stop in itertools.pairwise(bounds):
        key = tuple(table[name][start].as_py() for name in ("tenant_id", "algorithm", "variant"))
        yield key, slice(start, stop)


def learnable(examples: Any, min_examples: int = MIN_EXAMPLES) -> Any:
    """The rows of ``examples`` (``int_ranking_examples``, a DuckDB relation) of the
    list-makers that can learn a ranker: each half of their customers has ``min_examples``
    bought and unbought candidates, so that both the cross-fitted rankers and the one fitted
    on all of them learn (most small tenants' models cannot: their rows never reach Python).
    The counts are grouped, not windowed: a window of filtered counts, read through a shard's
    tenant filter, took ten times as long (0.5 s for 110 tenants' 130,000 rows)."""
    keys = ("tenant_id", "algorithm", "variant")
    counts = ", ".join(
        f"count(*) filter (where {'' if bought else 'not '}is_bought and cross_fit_group = {half}) "
        f"as n_{'bought' if bought else 'unbought'}_{half}"
        for bought in (True, False)
        for half in (0, 1)
    )
    enough = " and ".join(
        f"n_{kind}_{half} >= {int(min_examples)}"
        for kind in ("bought", "unbought")
        for half in (0, 1)
    )
    makers = (
        examples.aggregate(f"{', '.join(keys)}, {counts}", ", ".join(keys))
        .filter(enough)
        .project(", ".join(keys))
        .set_alias("makers")
    )
    # a variant may be null (a model without variants)
    same = " and ".join(f"examples.{key} is not distinct from makers.{key}" for key in keys)
    return examples.set_alias("examples").join(makers, same, how="semi")


def _coded(examples: pa.Table) -> tuple[pa.Table, dict[str, np.ndarray]]:
    """``examples`` sorted by list-maker, customer and rank, and their columns as numpy arrays:
    the ids as dictionary indices (equal ids, equal numbers: a large tenant's rows never become
    Python strings), the rest as they are."""
    table = _sorted(examples)
    columns = {}
    for name in ("tenant_id", "algorithm", "variant", "customer_id"):
        ids = pc.fill_null(table[name], "")  # an ALS model has no variant
        columns[name] = pc.dictionary_encode(ids).combine_chunks().indices.to_numpy()
    for name in ("rank", "score", "is_bought", "cross_fit_group", *ITEM_COLUMNS):
        if name in table.column_names:
            columns[name] = table[name].to_numpy(zero_copy_only=False)
    return table, columns


def _sorted(table: pa.Table) -> pa.Table:
    return table.sort_by(
        [(name, "ascending") for name in ("tenant_id", "algorithm", "variant", "customer_id")]
        + [("rank", "ascending")]
    )


def fit(examples: pa.Table, min_examples: int = MIN_EXAMPLES) -> pa.Table:
    """The ranker of each list-maker that can learn one (``RANKERS_SCHEMA``), from its holdout
    ``examples``: candidate rows (tenant_id, algorithm, variant, customer_id, rank, item_id,
    score, :data:`ITEM_COLUMNS`) labelled ``is_bought`` (bought in the holdout window).
    A list-maker with fewer than ``min_examples`` positive or negative rows learns none."""
    table, columns = _coded(examples)
    rows = []
    for (tenant_id, algorithm, variant), selected in _groups(table, columns):
        group = {name: values[selected] for name, values in columns.items()}
        labels = group["is_bought"].astype(bool)
        if not can_learn(labels, min_examples):
            continue
        model = RepurchaseModel().fit(design_matrix(group), labels)
        rows.append(
            {
                "tenant_id": tenant_id,
                "algorithm": algorithm,
                "variant": ranked_variant(variant),
                "features": list(FEATURES),
                "weights": _raw_weights(model).tolist(),
            }
        )
    return pa.Table.from_pylist(rows, schema=RANKERS_SCHEMA)


#: What :func:`cross_fitted_lists` returns: one row per list-maker, customer and rank.
LISTS_SCHEMA = pa.schema(
    [
        pa.field("tenant_id", pa.string()),
        pa.field("algorithm", pa.string()),
        pa.field("variant", pa.string()),
        pa.field("customer_id", pa.string()),
        pa.field("rank", pa.int64()),
        pa.field("item_id", pa.string()),
    ]
)


def cross_fitted_lists(
    examples: pa.Table, k: Mapping[str, int], min_examples: int = MIN_EXAMPLES
) -> pa.Table:
    """The ranked holdout lists of each list-maker whose two halves of customers
    (``cross_fit_group`` 0 and 1) can each learn: every customer's top ``k[tenant]`` candidates
    by the model fitted on the other half, out of sample (``LISTS_SCHEMA``; variant
    :func:`ranked_variant`). The others get none: they keep their model's order."""
    table, columns = _coded(examples)
    parts = []
    for (tenant_id, algorithm, variant), selected in _groups(table, columns):
        group = {name: values[selected] for name, values in columns.items()}
        labels = group["is_bought"].astype(bool)
        halves = group["cross_fit_group"]
        if not all(can_learn(labels[halves != h], min_examples) for h in (0, 1)):
            continue
        x = design_matrix(group)
        scores = np.empty(len(labels))
        for half in (0, 1):
            scored = halves == half
            model = RepurchaseModel().fit(x[~scored], labels[~scored])
            scores[scored] = x[scored] @ _raw_weights(model)
        order, ranks = _ranked(group["customer_id"], scores)
        keep = ranks <= k[tenant_id]
        picked = pa.array(order[keep] + selected.start)
        n = int(keep.sum())
        parts.append(
            pa.table(
                {
                    "tenant_id": [tenant_id] * n,
                    "algorithm": [algorithm] * n,
                    "variant": [ranked_variant(variant)] * n,
                    "customer_id": table["customer_id"].take(picked),
                    "rank": ranks[keep],
                    "item_id": table["item_id"].take(picked),
                },
                schema=LISTS_SCHEMA,
            )
        )
    return pa.concat_tables(parts) if parts else LISTS_SCHEMA.empty_table()


def _ranked(customers: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows sorted by customer (as they come) then score descending (ties: the model's order,
    the rows' own), and each one's 1-based rank within its customer."""
    position = np.arange(len(scores))
    starts = _run_starts(customers)
    group = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, customers.size]))
    # two stable sorts (score, then customer) instead of a lexsort of three keys: the same order
    order = np.argsort(-scores, kind="stable")
    order = order[np.argsort(group[order], kind="stable")]
    ranks = position - starts[group[order]] + 1
    return order, ranks


def _grouped_by_customer(customers: np.ndarray, rank: np.ndarray) -> bool:
    """Whether each customer's rows are together, best rank first (as the candidates come
    from the engine): then they need no sort."""
    starts = _run_starts(customers)
    within = np.ones(len(customers) - 1, dtype=bool)
    within[starts[1:] - 1] = False  # the steps from one customer's rows to the next's
    runs = customers[starts]
    return bool(np.all(np.diff(rank)[within] > 0) and np.unique(runs).size == runs.size)


#: Candidates re-ranked at a time: a large tenant's features are never all in memory at once.
RERANK_ROWS = 1_000_000


def _item_table(items: pa.Table, item_ids: pa.Array) -> dict[str, np.ndarray]:
    """:data:`ITEM_COLUMNS` of ``items`` (item_id and those columns, one tenant) in the order
    of ``item_ids`` (NaN where an item is not there)."""
    position = pc.index_in(item_ids, value_set=items["item_id"])
    found = position.is_valid().to_numpy(zero_copy_only=False)
    rows = position.drop_null().to_numpy()
    out = {}
    for name in ITEM_COLUMNS:
        values = np.full(len(item_ids), np.nan)
        values[found] = items[name].to_numpy(zero_copy_only=False).astype(float)[rows]
        out[name] = values
    return out


def rerank(
    candidates: pa.Table,
    rankers: Mapping[str, list[float]],
    items: pa.Table,
    chunk_rows: int = RERANK_ROWS,
) -> pa.Table:
    """``candidates`` (``recsql.engine.candidates.OUTPUT_SCHEMA``) with the rows of each tenant
    in ``rankers`` (tenant -> weights on :data:`FEATURES`) re-ranked by its ranker within each
    customer — ``rank`` and ``score`` (the ranker's) replaced, rows where they are; the other
    tenants' rows as they are. ``items``: tenant_id, item_id and :data:`ITEM_COLUMNS` (an item
    not there has none). Ids stay in Arrow (dictionary indices) and the features are made
    ``chunk_rows`` candidates at a time: a large tenant's millions of candidates never become
    Python strings or one feature matrix."""
    if not rankers or candidates.num_rows == 0:
        return candidates
    tenant_codes = pc.dictionary_encode(candidates["tenant_id"]).combine_chunks()
    tenant_of = tenant_codes.indices.to_numpy()
    customers = pc.dictionary_encode(candidates["customer_id"]).combine_chunks().indices.to_numpy()
    item_codes = pc.dictionary_encode(candidates["item_id"]).combine_chunks()
    item_of = item_codes.indices.to_numpy()
    rank = candidates["rank"].to_numpy(zero_copy_only=False)
    score = candidates["score"].to_numpy(zero_copy_only=False)
    new_rank = rank.astype(np.int64)
    new_score = score.astype(np.float64)
    # the ranked tenants' rows, tenant by tenant (one pass and one sort, whatever their number:
    # the engine's rows come grouped by tenant, which the stable sort finds in linear time)
    names = tenant_codes.dictionary.to_pylist()
    ranked_codes = np.array([c for c, name in enumerate(names) if name in rankers], np.int64)
    ranked_rows = np.flatnonzero(np.isin(tenant_of, ranked_codes))
    ranked_rows = ranked_rows[np.argsort(tenant_of[ranked_rows], kind="stable")]
    tenant_bounds = np.asarray(
        np.searchsorted(tenant_of[ranked_rows], np.r_[ranked_codes, len(names)]), np.int64
    )
    items, item_slices = grouped_by_tenant(items.select(["tenant_id", "item_id", *ITEM_COLUMNS]))
    items_of = dict(item_slices)
    for code, first, stop in zip(ranked_codes, tenant_bounds[:-1], tenant_bounds[1:], strict=True):
        tenant_id = names[int(code)]
        weights = np.asarray(rankers[tenant_id], float)
        rows = ranked_rows[first:stop]
        # the features of the tenant's own items, looked up by their position among them
        tenant_items = np.unique(item_of[rows])
        found = items_of.get(tenant_id, slice(0, 0))
        features = _item_table(
            items.slice(found.start, found.stop - found.start),
            item_codes.dictionary.take(pa.array(tenant_items)),
        )
        if not _grouped_by_customer(customers[rows], rank[rows]):
            rows = rows[np.lexsort((rank[rows], customers[rows]))]  # by customer, then rank
        # where each customer's rows start (and the end): chunks end on these boundaries
        bounds = np.r_[_run_starts(customers[rows]), len(rows)]
        begin = 0
        while begin < len(rows):
            end = int(bounds[np.searchsorted(bounds, min(begin + chunk_rows, len(rows)))])
            chunk = rows[begin:end]
            group = {
                "customer_id": customers[chunk],
                "rank": rank[chunk],
                "score": score[chunk],
                **{
                    name: values[np.searchsorted(tenant_items, item_of[chunk])]
                    for name, values in features.items()
                },
            }
            scores = design_matrix(group) @ weights
            order, ranks = _ranked(group["customer_id"], scores)
            new_rank[chunk[order]] = ranks
            new_score[chunk[order]] = scores[order]
            begin = end
    for name, values in (("rank", new_rank), ("score", new_score)):
        index = candidates.schema.get_field_index(name)
        field = candidates.schema.field(index)
        candidates = candidates.set_column(index, field, pa.array(values).cast(field.type))
    return candidates
