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
- ``log_recent_buyers``: ``ln(1 + buyers in the last trending_days)`` (0 when not trending);

and from the customers' purchases up to the fold's reference time and the items' metadata
(:class:`Context`, :data:`CONTEXT_COLUMNS`):

- ``log_item_age``: ``ln(1 + days)`` since the item was first bought (0: never bought);
- ``category_share``: the share of the customer's bought items in the item's category;
- ``log_price_ratio``: ``ln`` of the item's price over the geometric mean of the prices of
  the items the customer bought (0 when either is unknown).

Every feature is as of the fold's reference time: the candidates come from a model fitted
before it, the item features from that fold's popularity and trends, the context from the
fold's purchases. The label is whether the customer bought the item (never bought before) in
the holdout window. The same weights then rank the full fold's candidates with the full fold's
(or a kept version's) item features and today's context. A ranker stored by an older recsql
has fewer weights: the features it lacks weigh nothing (:func:`rerank`).

Only a tenant whose holdout has enough examples on both sides learns a ranker; its ranked
lists are evaluated cross-fitted (each half of the customers ranked by a model fitted on the
other half) and compete for the champion like any other variant (``<variant> ranked``).
No dbt here: the dbt models hand over the holdout examples (with their item features joined
in SQL; :func:`learnable` narrows their relation in DuckDB), the served candidates with the
version's item features, which :func:`rerank` looks up itself, and the fold's purchases and
items, from which :func:`contexts` makes each tenant's :class:`Context`.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recsql import sql
from recsql.engine.repurchase import RepurchaseModel, can_learn
from recsql.engine.tenancy import grouped_by_tenant

__all__ = [
    "CONTEXT_COLUMNS",
    "FEATURES",
    "RANKERS_SCHEMA",
    "Context",
    "base_variant",
    "contexts",
    "cross_fitted_lists",
    "cross_fitted_scores",
    "design_matrix",
    "fit",
    "fold_contexts",
    "holdout_contexts",
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
    "log_item_age",
    "category_share",
    "log_price_ratio",
)

#: What the ranker knows of an item, as the holdout examples and the items table of
#: :func:`rerank` carry it (NULL: the item is not there, e.g. not trending): buyers and
#: popularity from item_popularity (the tenant, not a country), trend_score and recent_buyers
#: from item_trends.
ITEM_COLUMNS = ("buyers", "popularity", "trend_score", "recent_buyers")

#: What :meth:`Context.columns` gives per candidate (NaN: unknown, the feature's 0): the days
#: since the item was first bought, the share of the customer's bought items in its category,
#: and ln(its price) less the mean ln(price) of the customer's bought items.
CONTEXT_COLUMNS = ("item_age_days", "category_share", "log_price_ratio")

#: The lowest price whose logarithm is taken (a free item is as cheap as this).
MIN_PRICE = 0.01

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
    sorted by customer: customer_id, rank, score, :data:`ITEM_COLUMNS` and
    :data:`CONTEXT_COLUMNS`."""
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
            np.log1p(np.maximum(item("item_age_days"), 0)),
            item("category_share"),
            item("log_price_ratio"),
        ]
    )


def _floats(values: np.ndarray) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=float)


class Context:
    """One tenant's purchases up to a reference time and its items' metadata: what the ranker's
    context features (:data:`CONTEXT_COLUMNS`) of any (customer, item) are made from.

    ``purchases``: one row per customer and item bought (customer_id, item_id,
    first_purchased_at), e.g. a fold of ``int_interactions_weighted`` with purchase occasions,
    in an order that is the same from one build to the next (a mean's last digit depends on it);
    ``catalogue``: item_id, category, price (``stg_items``); ``reference``: the fold's "now",
    from which items are aged (:meth:`as_of` another: an item first bought after it is new).
    Customers and items are numbered once (:meth:`customers`, :meth:`items`), so that a large
    tenant's millions of candidates are looked up as integers, a chunk at a time
    (:meth:`columns`)."""

    def __init__(self, purchases: pa.Table, catalogue: pa.Table, reference: Any):
        self._item_ids = pa.concat_arrays(
            [
                catalogue["item_id"].combine_chunks().cast(pa.string()),
                purchases["item_id"].combine_chunks().cast(pa.string()),
            ]
        ).unique()
        n_items = len(self._item_ids)
        listed = pc.index_in(catalogue["item_id"], value_set=self._item_ids).to_numpy()
        categories = pc.dictionary_encode(catalogue["category"]).combine_chunks()
        self._category = np.full(n_items, -1, np.int64)
        self._category[listed] = pc.fill_null(categories.indices, -1).to_numpy()
        price = _floats_of(catalogue["price"])
        self._log_price = np.full(n_items, np.nan)
        self._log_price[listed] = np.log(np.maximum(price, MIN_PRICE))  # NaN stays NaN

        customers = pc.dictionary_encode(purchases["customer_id"]).combine_chunks()
        self._customer_ids = customers.dictionary
        customer = customers.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        item = pc.index_in(purchases["item_id"], value_set=self._item_ids).to_numpy()
        # the item's first purchase, in days since the epoch (NaN: never bought)
        first = purchases["first_purchased_at"].to_numpy(zero_copy_only=False)
        days = first.astype("datetime64[us]").astype(np.int64) / _MICROSECONDS_A_DAY
        self._first_bought = np.full(n_items, np.inf)
        np.minimum.at(self._first_bought, item, days)
        self._first_bought[np.isposinf(self._first_bought)] = np.nan
        self._reference = _days(reference)
        # the customer's mean log price (NaN: bought nothing priced) and bought items per category
        n_customers = len(self._customer_ids)
        priced = ~np.isnan(self._log_price[item])
        n_priced = np.bincount(customer[priced], minlength=n_customers)
        with np.errstate(invalid="ignore", divide="ignore"):
            self._mean_log_price = (
                np.bincount(customer[priced], self._log_price[item[priced]], minlength=n_customers)
                / n_priced
            )
        self._bought = np.bincount(customer, minlength=n_customers)
        self._n_categories = max(len(categories.dictionary), 1)
        category = self._category[item]
        self._keys, self._counts = np.unique(
            customer[category >= 0] * self._n_categories + category[category >= 0],
            return_counts=True,
        )

    def as_of(self, reference: Any) -> Context:
        """The same context with items aged to ``reference`` (e.g. a version's data_until)."""
        other = copy.copy(self)
        other._reference = _days(reference)
        return other

    def customers(self, customer_ids: pa.Array) -> np.ndarray:
        """The number of each customer (-1: bought nothing before the reference time)."""
        found = pc.index_in(customer_ids, value_set=self._customer_ids)
        return pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int64)

    def items(self, item_ids: pa.Array) -> np.ndarray:
        """The number of each item (-1: neither listed nor bought)."""
        found = pc.index_in(item_ids, value_set=self._item_ids)
        return pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int64)

    def columns(self, customers: np.ndarray, items: np.ndarray) -> dict[str, np.ndarray]:
        """:data:`CONTEXT_COLUMNS` of each (customer, item) pair, by their numbers."""
        n = len(items)
        age, share, ratio = np.full(n, np.nan), np.zeros(n), np.full(n, np.nan)
        category, log_price = np.full(n, -1), np.full(n, np.nan)
        listed = items >= 0
        age[listed] = self._reference - self._first_bought[items[listed]]
        category[listed] = self._category[items[listed]]
        log_price[listed] = self._log_price[items[listed]]
        known = customers >= 0
        ratio[known] = log_price[known] - self._mean_log_price[customers[known]]
        both = np.flatnonzero(known & (category >= 0))
        if self._keys.size and both.size:
            keys = customers[both] * self._n_categories + category[both]
            at = np.minimum(np.searchsorted(self._keys, keys), self._keys.size - 1)
            hit = self._keys[at] == keys
            share[both[hit]] = self._counts[at[hit]] / self._bought[customers[both[hit]]]
        return {"item_age_days": age, "category_share": share, "log_price_ratio": ratio}


_MICROSECONDS_A_DAY = 86_400_000_000


def _days(moment: Any) -> float:
    """A timestamp in days since the epoch (NaN for none: every item's age unknown)."""
    if moment is None:
        return np.nan
    return float(np.datetime64(moment, "us").astype(np.int64)) / _MICROSECONDS_A_DAY


def _floats_of(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A numeric column as floats, NULL as NaN."""
    return pc.fill_null(values.cast(pa.float64()), np.nan).to_numpy(zero_copy_only=False)


def contexts(
    purchases: pa.Table, catalogue: pa.Table, references: Mapping[str, Any]
) -> dict[str, Context]:
    """The :class:`Context` of each tenant of ``references`` (tenant -> reference time), from
    ``purchases`` and ``catalogue`` as :class:`Context` reads them, with their tenant_id."""
    purchases, purchase_slices = grouped_by_tenant(purchases)
    catalogue, catalogue_slices = grouped_by_tenant(catalogue)
    bought, listed = dict(purchase_slices), dict(catalogue_slices)

    def rows(table: pa.Table, found: slice | None) -> pa.Table:
        return table.slice(found.start, found.stop - found.start) if found else table.slice(0, 0)

    return {
        tenant_id: Context(
            rows(purchases, bought.get(tenant_id)), rows(catalogue, listed.get(tenant_id)), at
        )
        for tenant_id, at in references.items()
    }


def fold_contexts(
    weighted: Any, items: Any, fold: str, references: Mapping[str, Any]
) -> dict[str, Context]:
    """The :class:`Context` of each tenant of ``references`` (tenant -> reference time) from
    one fold (``fold``) of ``int_interactions_weighted`` (its bought rows) and ``stg_items``
    (DuckDB relations). The tenants are a list in the filter, which DuckDB applies as it scans
    (a join with a relation of them read the whole fold: 0.2 s a model for 9 tenants of 1,000)."""
    if not references:  # most builds of small tenants: none learns or serves a ranker
        return {}
    wanted = f"tenant_id in ({', '.join(sql.literal(tenant) for tenant in references)})"
    purchases = (
        weighted.filter(f"fold = '{fold}' and purchase_occasions > 0 and {wanted}")
        .project("tenant_id, customer_id, item_id, first_purchased_at")
        .order("tenant_id, customer_id, item_id")  # the same sums, to the last digit
    )
    return contexts(
        purchases.to_arrow_table(),
        items.filter(wanted).project("tenant_id, item_id, category, price").to_arrow_table(),
        references,
    )


def holdout_contexts(
    examples: pa.Table, weighted: Any, items: Any, folds: Any
) -> dict[str, Context]:
    """The :class:`Context` of the holdout fold of each tenant of ``examples`` (rows of
    ``int_ranking_examples``), as of the fold's reference time (``int_folds_defined``):
    what its ranker learns and is judged with."""
    tenants = pc.unique(examples["tenant_id"]).to_pylist()
    if not tenants:
        return {}
    wanted = ", ".join(sql.literal(tenant) for tenant in tenants)
    references = folds.filter(f"fold = 'holdout' and tenant_id in ({wanted})")
    return fold_contexts(
        weighted, items, "holdout", dict(references.project("tenant_id, reference_at").fetchall())
    )


def _context_columns(
    context: Context | None, customer_ids: pa.Array, item_ids: pa.Array
) -> dict[str, np.ndarray]:
    """:data:`CONTEXT_COLUMNS` of candidate rows by their ids (all unknown without a context)."""
    if context is None:
        return _unknown_context(len(item_ids))
    return context.columns(context.customers(customer_ids), context.items(item_ids))


def _unknown_context(rows: int) -> dict[str, np.ndarray]:
    """:data:`CONTEXT_COLUMNS` of rows of a tenant without a context: all unknown (NaN)."""
    return {name: np.full(rows, np.nan) for name in CONTEXT_COLUMNS}


def _scores(features: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Each row's weighted sum, summed row by row: a row's score does not depend on how many
    rows are scored with it (a matrix product's can, in its last digit)."""
    return (features * weights).sum(axis=1)


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


def _group(
    table: pa.Table, columns: Mapping[str, np.ndarray], selected: slice, context: Context | None
) -> dict[str, np.ndarray]:
    """The columns of one list-maker's rows of ``table`` (:func:`_coded`), with their context."""
    group = {name: values[selected] for name, values in columns.items()}
    length = selected.stop - selected.start
    ids = (table[name].slice(selected.start, length) for name in ("customer_id", "item_id"))
    return group | _context_columns(context, *ids)


def fit(
    examples: pa.Table, contexts: Mapping[str, Context], min_examples: int = MIN_EXAMPLES
) -> pa.Table:
    """The ranker of each list-maker that can learn one (``RANKERS_SCHEMA``), from its holdout
    ``examples``: candidate rows (tenant_id, algorithm, variant, customer_id, rank, item_id,
    score, :data:`ITEM_COLUMNS`) labelled ``is_bought`` (bought in the holdout window), with
    the context of the holdout fold (``contexts``: tenant -> :class:`Context`).
    A list-maker with fewer than ``min_examples`` positive or negative rows learns none."""
    table, columns = _coded(examples)
    rows = []
    for (tenant_id, algorithm, variant), selected in _groups(table, columns):
        group = _group(table, columns, selected, contexts.get(tenant_id))
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
    examples: pa.Table,
    contexts: Mapping[str, Context],
    k: Mapping[str, int],
    min_examples: int = MIN_EXAMPLES,
) -> pa.Table:
    """The ranked holdout lists of each list-maker whose two halves of customers
    (``cross_fit_group`` 0 and 1) can each learn: every customer's top ``k[tenant]`` candidates
    by the model fitted on the other half, out of sample (``LISTS_SCHEMA``; variant
    :func:`ranked_variant`). The others get none: they keep their model's order. ``examples``
    and ``contexts`` as :func:`fit` reads them."""
    table, columns = _coded(examples)
    parts = []
    for (tenant_id, algorithm, variant), selected in _groups(table, columns):
        group = _group(table, columns, selected, contexts.get(tenant_id))
        labels = group["is_bought"].astype(bool)
        halves = group["cross_fit_group"]
        if not all(can_learn(labels[halves != h], min_examples) for h in (0, 1)):
            continue
        scores = cross_fitted_scores(design_matrix(group), labels, halves)
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


def cross_fitted_scores(x: np.ndarray, labels: np.ndarray, halves: np.ndarray) -> np.ndarray:
    """Each row's score by the model fitted on the other half of the customers (``halves``: 0
    or 1 per row, each half able to learn): out of sample, for the holdout evaluation."""
    scores = np.empty(len(labels))
    for half in (0, 1):
        scored = halves == half
        model = RepurchaseModel().fit(x[~scored], labels[~scored])
        scores[scored] = _scores(x[scored], _raw_weights(model))
    return scores


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
    contexts: Mapping[str, Context],
    chunk_rows: int = RERANK_ROWS,
) -> pa.Table:
    """``candidates`` (``recsql.engine.candidates.OUTPUT_SCHEMA``) with the rows of each tenant
    in ``rankers`` (tenant -> weights on :data:`FEATURES`; a shorter list, stored by an older
    recsql, weighs the features it lacks 0) re-ranked by its ranker within each customer —
    ``rank`` and ``score`` (the ranker's) replaced, rows where they are; the other tenants' rows
    as they are. ``items``: tenant_id, item_id and :data:`ITEM_COLUMNS` (an item not there has
    none); ``contexts``: tenant -> :class:`Context` of the histories the candidates were made
    from (a tenant without one: its context features unknown). Ids stay in Arrow (dictionary
    indices) and the features are made ``chunk_rows`` candidates at a time: a large tenant's
    millions of candidates never become Python strings or one feature matrix."""
    if not rankers or candidates.num_rows == 0:
        return candidates
    tenant_codes = pc.dictionary_encode(candidates["tenant_id"]).combine_chunks()
    tenant_of = tenant_codes.indices.to_numpy()
    customer_codes = pc.dictionary_encode(candidates["customer_id"]).combine_chunks()
    customers = customer_codes.indices.to_numpy()
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
        weights = np.zeros(len(FEATURES))
        weights[: len(rankers[tenant_id])] = rankers[tenant_id]
        rows = ranked_rows[first:stop]
        # the features of the tenant's own items, looked up by their position among them
        tenant_items = np.unique(item_of[rows])
        found = items_of.get(tenant_id, slice(0, 0))
        features = _item_table(
            items.slice(found.start, found.stop - found.start),
            item_codes.dictionary.take(pa.array(tenant_items)),
        )
        # the context's numbers of the tenant's customers and items
        context = contexts.get(tenant_id)
        tenant_customers = np.unique(customers[rows])
        if context is not None:
            customer_numbers = context.customers(
                customer_codes.dictionary.take(pa.array(tenant_customers))
            )
            item_numbers = context.items(item_codes.dictionary.take(pa.array(tenant_items)))
        if not _grouped_by_customer(customers[rows], rank[rows]):
            rows = rows[np.lexsort((rank[rows], customers[rows]))]  # by customer, then rank
        # where each customer's rows start (and the end): chunks end on these boundaries
        bounds = np.r_[_run_starts(customers[rows]), len(rows)]
        begin = 0
        while begin < len(rows):
            end = int(bounds[np.searchsorted(bounds, min(begin + chunk_rows, len(rows)))])
            chunk = rows[begin:end]
            item_at = np.searchsorted(tenant_items, item_of[chunk])
            group = {
                "customer_id": customers[chunk],
                "rank": rank[chunk],
                "score": score[chunk],
                **{name: values[item_at] for name, values in features.items()},
            }
            if context is None:
                group |= _unknown_context(len(chunk))
            else:
                group |= context.columns(
                    customer_numbers[np.searchsorted(tenant_customers, customers[chunk])],
                    item_numbers[item_at],
                )
            scores = _scores(design_matrix(group), weights)
            order, ranks = _ranked(group["customer_id"], scores)
            new_rank[chunk[order]] = ranks
            new_score[chunk[order]] = scores[order]
            begin = end
    for name, values in (("rank", new_rank), ("score", new_score)):
        index = candidates.schema.get_field_index(name)
        field = candidates.schema.field(index)
        candidates = candidates.set_column(index, field, pa.array(values).cast(field.type))
    return candidates
