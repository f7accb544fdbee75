"""The learned blend: several list-makers' candidates of a customer ranked together (issue 16).

Each matrix model offers a customer its top ``candidates_n`` items, and the learned ranker
(:mod:`recsql.engine.ranker`) re-orders one model's candidates. A blend takes the **union** of
two or more list-makers' candidates (e.g. EASE's ``sqrt`` and ``binary`` variants, whose
lists differ by about a third) and ranks it with the ranker's learner, a ridge-regularised
logistic regression, from :func:`features`:

- for each list-maker, in the order given: the candidate's ``score_z`` (its score
  standardised within the customer's candidates of that list-maker), ``log_rank``
  (``ln(rank)``) and ``offered`` (1). A list-maker that did not offer the item gives it the
  customer's lowest ``score_z`` of that list-maker less one, ``ln(depth + 1)`` and 0: below
  everything it offered;
- then the ranker's item and context features (:data:`recsql.engine.ranker.FEATURES` after its
  two list features), which do not depend on who offered the item.

A blend sees more candidates than any one list-maker (about 73 a customer for two lists of 50
on the demo) and what each of them thinks of each: the demo's served discover lists are better
with it at two of the accuracy benchmark's three cutoffs and level at the third
(docs/engine.md, the blend of EASE's two variants).

The blend is a variant of EASE, ``blend ranked`` (:data:`VARIANT`), of its two variants
(:data:`MAKERS`): learned on the holdout fold from the two variants' candidates
(``int_ranking_examples``) where both can teach a ranker (:func:`fit`), judged cross-fitted
like the ranked variants (:func:`cross_fitted_lists`), and champion where it wins. A version
of it stores both variants' weights (the first as EASE's, ``ease``; the second as
``ease binary``, :func:`stored_algorithm`) and its ranker, and serves the union of their
candidates ranked by it, ``candidates_n`` deep (:func:`serve`, a batch of customers at a time;
:func:`rerank` ranks candidates already made, as the promotion gate's).

The features are joined as integer codes that the list-makers share (one numbering of a
tenant's customers and items, :func:`union`), a chunk of customers at a time: a large tenant's
millions of candidates never become Python strings or one feature matrix.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recsql.engine import candidates, ranker
from recsql.engine.repurchase import RepurchaseModel, can_learn
from recsql.engine.tenancy import grouped_by_tenant

__all__ = [
    "LIST_FEATURES",
    "MAKERS",
    "VARIANT",
    "Union",
    "cross_fitted_lists",
    "features",
    "fit",
    "is_blend",
    "rerank",
    "serve",
    "stored_algorithm",
    "union",
]

#: The list-makers a blend joins: EASE's variants, in the order of the blend's features.
MAKERS = ("sqrt", "binary")
#: The blend's variant of EASE.
VARIANT = ranker.ranked_variant("blend")

#: What each blended list-maker says of a candidate, in this order.
LIST_FEATURES = ("score_z", "log_rank", "offered")


def features(makers: Sequence[str]) -> tuple[str, ...]:
    """The names of a blend's features, in the order of :attr:`Union.x`'s columns: each
    list-maker's :data:`LIST_FEATURES` (``"<maker>:score_z"``...), then the ranker's item and
    context features."""
    return (
        *(f"{maker}:{name}" for maker in makers for name in LIST_FEATURES),
        *ranker.FEATURES[2:],
    )


@dataclass(frozen=True)
class Union:
    """The union of list-makers' candidates of one tenant: one row per (customer, item)
    offered by any of them, sorted by customer then item code."""

    #: The customer's and the item's codes.
    customers: np.ndarray
    items: np.ndarray
    #: The rows' :func:`features`.
    x: np.ndarray
    #: Where each row's item and context features came from: its position in the list-makers'
    #: rows one after the other (the first list-maker that offered it), to take any other
    #: column the rows share, such as a label.
    source: np.ndarray

    def take(self, columns: Sequence[np.ndarray]) -> np.ndarray:
        """One column of the list-makers' rows (one array each, in their order), per row."""
        return np.concatenate(columns)[self.source]


def union(groups: Sequence[Mapping[str, np.ndarray]], depths: Sequence[int]) -> Union:
    """The :class:`Union` of list-makers' candidate rows of one tenant.

    ``groups[m]``: list-maker ``m``'s rows, sorted by customer (then rank), as
    :func:`recsql.engine.ranker.design_matrix` reads them (``customer_id``, ``rank``,
    ``score``, the item and context columns) plus ``item``: the customer and item as integer
    codes shared by every list-maker. ``depths[m]``: how deep its lists go (``candidates_n``):
    an item it did not offer ranks ``depth + 1``.
    """
    if len(groups) != len(depths) or not groups:
        raise ValueError("give each list-maker's rows and its depth")
    designs = [ranker.design_matrix(group) for group in groups]
    customers = [np.asarray(group["customer_id"], np.int64) for group in groups]
    items = [np.asarray(group["item"], np.int64) for group in groups]
    n_items = 1 + max(int(codes.max(initial=-1)) for codes in items)
    n_customers = 1 + max(int(codes.max(initial=-1)) for codes in customers)
    keys = [customer * n_items + item for customer, item in zip(customers, items, strict=True)]
    every, source = np.unique(np.concatenate(keys), return_index=True)
    row_customers, row_items = every // max(n_items, 1), every % max(n_items, 1)
    shared = np.concatenate([design[:, 2:] for design in designs])[source]
    blocks = []
    for design, key, customer, depth in zip(designs, keys, customers, depths, strict=True):
        lowest = np.full(n_customers, np.inf)
        np.minimum.at(lowest, customer, design[:, 0])
        lowest[np.isinf(lowest)] = 0.0  # a customer it offered nothing: -1 below
        block = np.column_stack(
            [
                lowest[row_customers] - 1.0,
                np.full(every.size, np.log(depth + 1.0)),
                np.zeros(every.size),
            ]
        )
        at = np.searchsorted(every, key)
        block[at, 0], block[at, 1], block[at, 2] = design[:, 0], design[:, 1], 1.0
        blocks.append(block)
    return Union(row_customers, row_items, np.column_stack([*blocks, shared]), source)


def is_blend(variant: str | None) -> bool:
    return variant == VARIANT


def stored_algorithm(maker: str) -> str:
    """The ``algorithm`` under which a blend's version stores a list-maker's EASE weights
    (``stored_neighbours``): the first maker's as any EASE version's (``ease``: its similar
    items and the rest read them as they are), the others' as ``ease <variant>``."""
    return "ease" if maker == MAKERS[0] else f"ease {maker}"


def _coded_groups(
    tables: Sequence[pa.Table], columns: Sequence[Mapping[str, np.ndarray]]
) -> tuple[list[dict[str, np.ndarray]], pa.Array, pa.Array]:
    """The makers' rows of one tenant (``tables``: customer_id and item_id; ``columns``: their
    other columns) with the customer and the item as codes they share, and the ids of the
    codes."""
    customer_ids = pa.concat_arrays(
        [t["customer_id"].combine_chunks().cast(pa.string()) for t in tables]
    ).unique()
    item_ids = pa.concat_arrays(
        [t["item_id"].combine_chunks().cast(pa.string()) for t in tables]
    ).unique()
    groups = [
        dict(found)
        | {
            "customer_id": pc.index_in(t["customer_id"], value_set=customer_ids).to_numpy(),
            "item": pc.index_in(t["item_id"], value_set=item_ids).to_numpy(),
        }
        for t, found in zip(tables, columns, strict=True)
    ]
    return groups, customer_ids, item_ids


def _examples_of(table: pa.Table) -> dict[str, list[pa.Table]]:
    """The holdout examples of each tenant both :data:`MAKERS` of EASE teach from, per maker,
    sorted by customer and rank."""
    table = table.filter(pc.equal(table["algorithm"], "ease"))
    table, slices = grouped_by_tenant(table)
    found = {}
    for tenant_id, rows in slices:
        rows_of = table.slice(rows.start, rows.stop - rows.start)
        makers = [rows_of.filter(pc.equal(rows_of["variant"], maker)) for maker in MAKERS]
        if all(maker.num_rows for maker in makers):
            found[tenant_id] = [
                t.sort_by([("customer_id", "ascending"), ("rank", "ascending")]) for t in makers
            ]
    return found


def _example_union(
    makers: list[pa.Table], context: ranker.Context | None, depth: int
) -> tuple[Union, pa.Array, pa.Array, np.ndarray, np.ndarray]:
    """The union of one tenant's holdout examples, its ids, labels and cross-fit halves."""
    columns = []
    for table in makers:
        taken = {
            name: table[name].to_numpy(zero_copy_only=False)
            for name in ("rank", "score", "is_bought", "cross_fit_group")
        }
        for name in ranker.ITEM_COLUMNS:
            taken[name] = ranker._floats_of(table[name])
        taken |= ranker._context_columns(context, table["customer_id"], table["item_id"])
        columns.append(taken)
    groups, customer_ids, item_ids = _coded_groups(makers, columns)
    found = union(groups, [depth] * len(groups))
    labels = found.take([g["is_bought"] for g in groups]).astype(bool)
    halves = found.take([g["cross_fit_group"] for g in groups])
    return found, customer_ids, item_ids, labels, halves


def fit(
    examples: pa.Table,
    contexts: Mapping[str, ranker.Context],
    depths: Mapping[str, int],
    min_examples: int = ranker.MIN_EXAMPLES,
) -> pa.Table:
    """The blend of each tenant whose two EASE variants both have holdout ``examples``
    (``int_ranking_examples`` rows, as :func:`recsql.engine.ranker.fit` reads them) and whose
    union can learn (``ranker.RANKERS_SCHEMA``: variant :data:`VARIANT`, its :func:`features`).
    ``depths``: each tenant's candidates_n."""
    rows = []
    for tenant_id, makers in _examples_of(examples).items():
        found, _, _, labels, _ = _example_union(makers, contexts.get(tenant_id), depths[tenant_id])
        if not can_learn(labels, min_examples):
            continue
        model = RepurchaseModel().fit(found.x, labels)
        rows.append(
            {
                "tenant_id": tenant_id,
                "algorithm": "ease",
                "variant": VARIANT,
                "features": list(features(MAKERS)),
                "weights": ranker._raw_weights(model).tolist(),
            }
        )
    return pa.Table.from_pylist(rows, schema=ranker.RANKERS_SCHEMA)


def cross_fitted_lists(
    examples: pa.Table,
    contexts: Mapping[str, ranker.Context],
    k: Mapping[str, int],
    depths: Mapping[str, int],
    min_examples: int = ranker.MIN_EXAMPLES,
) -> pa.Table:
    """The blend's holdout lists of each tenant of :func:`fit` whose two halves of customers
    can each learn: every customer's top ``k[tenant]`` of the union by the blend fitted on the
    other half (``ranker.LISTS_SCHEMA``, variant :data:`VARIANT`)."""
    parts = []
    for tenant_id, makers in _examples_of(examples).items():
        found, customer_ids, item_ids, labels, halves = _example_union(
            makers, contexts.get(tenant_id), depths[tenant_id]
        )
        if not all(can_learn(labels[halves != h], min_examples) for h in (0, 1)):
            continue
        scores = ranker.cross_fitted_scores(found.x, labels, halves)
        order, ranks = ranker._ranked(found.customers, scores)
        keep = ranks <= k[tenant_id]
        n = int(keep.sum())
        parts.append(
            pa.table(
                {
                    "tenant_id": [tenant_id] * n,
                    "algorithm": ["ease"] * n,
                    "variant": [VARIANT] * n,
                    "customer_id": customer_ids.take(pa.array(found.customers[order[keep]])),
                    "rank": ranks[keep],
                    "item_id": item_ids.take(pa.array(found.items[order[keep]])),
                },
                schema=ranker.LISTS_SCHEMA,
            )
        )
    return pa.concat_tables(parts) if parts else ranker.LISTS_SCHEMA.empty_table()


#: Customers of one blend tenant served at a time: both variants' candidates of a batch and
#: their union are in memory, never the tenant's all (all 458,000 customers of the
#: 20 M-interaction benchmark tenant at once took its build to 13.8 of its 8 GiB).
SERVE_CUSTOMERS = 50_000


def serve(
    interactions: pa.Table,
    jobs: Sequence[candidates.Job],
    weights: Sequence[pa.Table],
    blends: Mapping[str, list[float]],
    items: pa.Table,
    contexts: Mapping[str, ranker.Context],
    batch_customers: int = SERVE_CUSTOMERS,
) -> pa.Table:
    """The served candidates of the blend tenants of ``jobs`` (one each: the settings its
    version was trained with, ``depth`` its candidates_n) on today's ``interactions``
    (:func:`recsql.engine.candidates.fold_interactions`): each of :data:`MAKERS` scored from its
    stored EASE ``weights`` (one table per maker: tenant_id, item_id, neighbour_item_id,
    weight), the union ranked by the tenant's blend (``blends``) as :func:`rerank` ranks it,
    ``batch_customers`` customers at a time. ``items`` and ``contexts`` as :func:`rerank`
    reads them. A tenant whose scoring raises gets no candidates; the engine's journal says
    why (as :func:`recsql.engine.candidates.recommend_stored`)."""
    matrices = candidates.tenant_matrices(interactions)
    stored = [candidates._by_tenant(table) for table in weights]
    items, item_slices = grouped_by_tenant(
        items.select(["tenant_id", "item_id", *ranker.ITEM_COLUMNS])
    )
    items_of = dict(item_slices)
    tasks = []
    for job in jobs:
        if job.tenant_id not in blends:
            continue
        known = items_of.get(job.tenant_id, slice(0, 0))
        tasks.append(
            (
                job,
                _Served(
                    [table.get(job.tenant_id) for table in stored],
                    list(blends[job.tenant_id]),
                    items.slice(known.start, known.stop - known.start),
                    contexts.get(job.tenant_id),
                    batch_customers,
                ),
            )
        )
    found = candidates._each_tenant(matrices, tasks, _served)
    return pa.concat_tables(found) if found else candidates.OUTPUT_SCHEMA.empty_table()


@dataclass(frozen=True)
class _Served:
    """What :func:`_served` needs of one blend tenant besides its job and matrix."""

    weights: list[pa.Table | None]
    blend: list[float]
    items: pa.Table
    context: ranker.Context | None
    batch_customers: int


def _served(
    job: candidates.Job, matrix: candidates.TenantMatrix, served: _Served, num_threads: int
) -> pa.Table | None:
    """One blend tenant's served candidates, a batch of its customers at a time."""
    scorers = [
        candidates.stored_scorer(
            dataclasses.replace(job, variant=maker), matrix, weights, None, num_threads
        )
        for maker, weights in zip(MAKERS, served.weights, strict=True)
    ]
    if any(scorer is None for scorer in scorers):
        return None
    with_history = np.flatnonzero(np.diff(matrix.affinities.indptr) > 0)
    customer_ids = matrix.customer_ids.take(pa.array(with_history))
    parts = []
    for start in range(0, len(customer_ids), served.batch_customers):
        targets = customer_ids.slice(start, served.batch_customers).to_numpy(zero_copy_only=False)
        made = [scorer(targets) for scorer in scorers if scorer is not None]
        tables = [candidates.OUTPUT_SCHEMA.empty_table() if t is None else t for t in made]
        if not any(table.num_rows for table in tables):
            continue
        parts.extend(
            _reranked(
                job.tenant_id,
                tables,
                np.asarray(served.blend, dtype=float),
                served.items,
                served.context,
                job.depth,
                ranker.RERANK_ROWS,
            )
        )
    return pa.concat_tables(parts) if parts else None


def rerank(
    makers: Sequence[pa.Table],
    blends: Mapping[str, list[float]],
    items: pa.Table,
    contexts: Mapping[str, ranker.Context],
    depths: Mapping[str, int],
    chunk_rows: int = ranker.RERANK_ROWS,
) -> pa.Table:
    """The served candidates of each tenant of ``blends`` (tenant -> the blend's weights on
    :func:`features`): the union of its :data:`MAKERS`' candidates (``makers``: one
    ``recsql.engine.candidates.OUTPUT_SCHEMA`` table each, in their order) ranked by its
    blend, each customer's top ``depths[tenant]`` (``candidates_n``), variant
    :data:`VARIANT`; a row's ``because_item_id`` is the one of the first maker that offered it.
    ``items`` and ``contexts`` as :func:`recsql.engine.ranker.rerank` reads them. The features
    are made ``chunk_rows`` candidates (of whole customers) at a time."""
    grouped = [grouped_by_tenant(table) for table in makers]
    slices = [dict(found) for _, found in grouped]
    items, item_slices = grouped_by_tenant(
        items.select(["tenant_id", "item_id", *ranker.ITEM_COLUMNS])
    )
    items_of = dict(item_slices)
    parts = []
    for tenant_id, weights in blends.items():
        tables = [
            table.slice(found[tenant_id].start, found[tenant_id].stop - found[tenant_id].start)
            if tenant_id in found
            else table.slice(0, 0)
            for (table, _), found in zip(grouped, slices, strict=True)
        ]
        if not any(table.num_rows for table in tables):
            continue
        known = items_of.get(tenant_id, slice(0, 0))
        parts.extend(
            _reranked(
                tenant_id,
                tables,
                np.asarray(weights, dtype=float),
                items.slice(known.start, known.stop - known.start),
                contexts.get(tenant_id),
                depths[tenant_id],
                chunk_rows,
            )
        )
    if not parts:
        return makers[0].schema.empty_table()
    return pa.concat_tables(parts)


def _reranked(
    tenant_id: str,
    tables: list[pa.Table],
    weights: np.ndarray,
    items: pa.Table,
    context: ranker.Context | None,
    depth: int,
    chunk_rows: int,
) -> list[pa.Table]:
    """One tenant's makers' candidates ranked by its blend, a chunk of customers at a time."""
    schema = tables[0].schema
    columns = [
        {
            "rank": table["rank"].to_numpy(zero_copy_only=False),
            "score": table["score"].to_numpy(zero_copy_only=False).astype(float),
            "row": np.arange(table.num_rows),
        }
        | ranker._item_table(items, table["item_id"].combine_chunks())
        for table in tables
    ]
    coded, customer_ids, item_ids = _coded_groups(tables, columns)
    # each maker's rows by customer code, then rank: a chunk of customers is a run of rows
    groups = []
    for group in coded:
        order = np.lexsort((group["rank"], group["customer_id"]))
        groups.append({name: values[order] for name, values in group.items()})
    # the context's numbers of the tenant's customers and items, looked up once
    if context is not None:
        customer_numbers = context.customers(customer_ids)
        item_numbers = context.items(item_ids)
    n_customers = len(customer_ids)
    # chunks of whole customers (codes in [start, stop)), about chunk_rows rows each
    ends = np.cumsum(
        sum(np.bincount(g["customer_id"], minlength=n_customers) for g in groups), dtype=np.int64
    )
    bounds = [0]
    while bounds[-1] < n_customers:
        before = int(ends[bounds[-1] - 1]) if bounds[-1] else 0
        reached = int(np.searchsorted(ends, before + chunk_rows, "right"))
        bounds.append(max(reached, bounds[-1] + 1))
    because = [table["because_item_id"].combine_chunks() for table in tables]
    parts = []
    for start, stop in itertools.pairwise(bounds):
        chunk = []
        for group in groups:
            run = slice(*np.searchsorted(group["customer_id"], [start, stop]))
            part = {name: values[run] for name, values in group.items()}
            if context is None:
                part |= ranker._unknown_context(len(part["rank"]))
            else:
                part |= context.columns(
                    customer_numbers[part["customer_id"]], item_numbers[part["item"]]
                )
            chunk.append(part)
        found = union(chunk, [depth] * len(chunk))
        if len(weights) != found.x.shape[1]:
            raise ValueError(f"a blend has {len(weights)} weights, its features {found.x.shape[1]}")
        scores = ranker._scores(found.x, weights)
        order, ranks = ranker._ranked(found.customers, scores)
        kept = ranks <= depth
        keep = order[kept]
        # a row's explanation: the one of the maker whose row gave its features
        explanations = pa.concat_arrays(
            [because[m].take(pa.array(part["row"])) for m, part in enumerate(chunk)]
        )
        n = len(keep)
        parts.append(
            pa.table(
                {
                    "tenant_id": pa.repeat(pa.scalar(tenant_id, pa.string()), n),
                    "algorithm": pa.repeat(pa.scalar("ease", pa.string()), n),
                    "variant": pa.repeat(pa.scalar(VARIANT, pa.string()), n),
                    "customer_id": customer_ids.take(pa.array(found.customers[keep])),
                    "rank": pa.array(ranks[kept], pa.int32()),
                    "item_id": item_ids.take(pa.array(found.items[keep])),
                    "score": pa.array(scores[keep], pa.float32()),
                    "because_item_id": explanations.take(pa.array(found.source[keep])),
                },
                schema=schema,
            )
        )
    return parts
