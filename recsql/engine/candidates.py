"""Candidate lists from the matrix algorithms (ALS, EASE), tenant by tenant.

The dbt Python models ``holdout_candidates`` and ``customer_candidates`` hand this module the
weighted interactions of one fold (``int_interactions_weighted``) and a plan — which algorithm
to run for which tenant, how deep, with which settings, for which customers — and get back one
row per customer and rank. Each tenant gets its own matrix, its own model and its own
candidates: no tenant's rows ever reach another tenant's model. Tenants run side by side on
the worker processes of :mod:`recsql.engine.workers`.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from recsql.engine import journal, ranker, shards
from recsql.engine import workers as engine_workers
from recsql.engine.algorithms import ALGORITHMS, ALS, EASE, Algorithm
from recsql.engine.algorithms.ease import strongest_weights
from recsql.engine.tenancy import grouped_by_tenant, tenant_slices

log = logging.getLogger(__name__)


OUTPUT_SCHEMA = pa.schema(
    [
        pa.field("tenant_id", pa.string()),
        pa.field("algorithm", pa.string()),
        pa.field("variant", pa.string()),
        pa.field("customer_id", pa.string()),
        pa.field("rank", pa.int32()),
        pa.field("item_id", pa.string()),
        pa.field("score", pa.float32()),
        pa.field("because_item_id", pa.string()),
    ]
)


@dataclass(frozen=True)
class TenantMatrix:
    """One tenant's fold as matrices, with the ids behind the row and column indices."""

    tenant_id: str
    customer_ids: pa.StringArray
    item_ids: pa.StringArray
    #: Customers x items, positive affinities only (what models are fitted on).
    affinities: sp.csr_matrix
    #: Customers x items, the items each customer bought (never recommended on "discover").
    bought: sp.csr_matrix

    def with_items(self, kept: np.ndarray) -> TenantMatrix:
        """The same customers with only the items at the (sorted) column indices ``kept``."""
        return TenantMatrix(
            tenant_id=self.tenant_id,
            customer_ids=self.customer_ids,
            item_ids=self.item_ids.take(pa.array(kept)),
            affinities=self.affinities[:, kept].tocsr(),
            bought=self.bought[:, kept].tocsr(),
        )


#: The variants of each algorithm evaluated on every tenant's holdout; the best serves.
VARIANTS: Mapping[str, tuple[str | None, ...]] = {
    name: algorithm.variants for name, algorithm in ALGORITHMS.items()
}


@dataclass(frozen=True)
class Job:
    """One algorithm (and variant) to run for one tenant."""

    tenant_id: str
    algorithm: str
    depth: int
    settings: Mapping[str, float]
    variant: str | None = None


def fold_interactions(weighted: Any, fold: str) -> pa.Table:
    """The rows :func:`tenant_matrices` needs from ``int_interactions_weighted`` (a DuckDB
    relation, e.g. ``dbt.ref(...)`` in a Python model, possibly joined to keep some tenants):
    one fold's tenant_id, customer_id, item_id, affinity and purchase_occasions, sorted."""
    return (
        weighted.filter(f"fold = '{fold}'")
        .project("tenant_id, customer_id, item_id, affinity, purchase_occasions")
        .order("tenant_id, customer_id, item_id")
        .to_arrow_table()
    )


def of_tenants(interactions: pa.Table, tenants: Iterable[str]) -> pa.Table:
    """The rows of ``interactions`` (e.g. :func:`fold_interactions`) of ``tenants``: the table
    itself when it holds no other tenant (a large tenant's rows are not copied)."""
    wanted = pa.array(sorted(set(tenants)), pa.string())
    held = pc.unique(interactions["tenant_id"])
    if pc.all(pc.is_in(held, value_set=wanted)).as_py() in (True, None):
        return interactions
    return interactions.filter(pc.is_in(interactions["tenant_id"], value_set=wanted))


def training(relation: Any, plans: Any) -> Any:
    """The rows of ``relation`` (a DuckDB relation with a tenant_id) of the tenants this build
    trains (``plans``: the tenant_plans relation, action 'train')."""
    return relation.join(plans.filter("action = 'train'").project("tenant_id"), "tenant_id")


def tenant_matrices(interactions: pa.Table) -> dict[str, TenantMatrix]:
    """Matrices per tenant from rows sorted by tenant_id, customer_id, item_id.

    ``interactions``: tenant_id, customer_id, item_id, affinity, purchase_occasions. Row and
    column indices follow the order of first appearance, so the sort makes them - and every
    model fitted on them - the same from one build to the next. The rows are in Python now:
    DuckDB hands back the memory it kept (:func:`recsql.engine.shards.release_duckdb_memory`).
    """
    shards.release_duckdb_memory()
    interactions, slices = grouped_by_tenant(interactions)
    affinity = interactions.column("affinity").to_numpy(zero_copy_only=False).astype(np.float32)
    is_bought = interactions.column("purchase_occasions").to_numpy(zero_copy_only=False) > 0
    matrices = {}
    for tenant_id, rows in slices:
        customers = pc.dictionary_encode(
            interactions.column("customer_id").slice(rows.start, rows.stop - rows.start)
        ).combine_chunks()
        items = pc.dictionary_encode(
            interactions.column("item_id").slice(rows.start, rows.stop - rows.start)
        ).combine_chunks()
        row = customers.indices.to_numpy()
        column = items.indices.to_numpy()
        shape = (len(customers.dictionary), len(items.dictionary))
        values = affinity[rows]
        positive = values > 0
        matrices[tenant_id] = TenantMatrix(
            tenant_id=tenant_id,
            customer_ids=customers.dictionary,
            item_ids=items.dictionary,
            affinities=sp.csr_matrix(
                (values[positive], (row[positive], column[positive])), shape=shape
            ),
            bought=sp.csr_matrix(
                (
                    np.ones(int(is_bought[rows].sum()), np.float32),
                    (row[is_bought[rows]], column[is_bought[rows]]),
                ),
                shape=shape,
            ),
        )
    return matrices


def make_model(job: Job, num_threads: int) -> Algorithm:
    """The model of a job: the algorithm it names, with the tenant's settings (a ranked
    variant's model is its base variant's: the ranker re-orders its candidates)."""
    try:
        algorithm = ALGORITHMS[job.algorithm]
    except KeyError:
        raise ValueError(f"{job.algorithm!r} is not a matrix algorithm") from None
    return algorithm.from_settings(job.settings, ranker.base_variant(job.variant), num_threads)


def fitted_on(job: Job, matrix: TenantMatrix) -> TenantMatrix:
    """The matrix ``job``'s model is fitted on: the tenant's - or, for EASE on a catalogue of
    more than ``ease_max_items`` items, those ``ease_max_items`` items the most customers
    interacted with (ties: the first in the matrix's order). EASE's time grows with the cube
    of its items and its memory with the square; the other items stay reachable through the
    other algorithms and the lists' fills, and the evaluation decides as for any model."""
    limit = int(job.settings["ease_max_items"])
    n_items = matrix.affinities.shape[1]
    if job.algorithm != "ease" or n_items <= limit:
        return matrix
    customers = matrix.affinities.getnnz(axis=0)
    kept = np.sort(np.argsort(-customers, kind="stable")[:limit])
    log.info(
        "EASE for tenant %s on its %d most popular items of %d (ease_max_items; a fit on all "
        "would need about %.1f GiB)",
        job.tenant_id,
        limit,
        n_items,
        EASE.peak_memory_bytes(n_items) / 2**30,
    )
    return matrix.with_items(kept)


def _reached_by(
    weights: sp.csr_matrix, matrix: TenantMatrix, depth: int
) -> tuple[TenantMatrix, sp.csr_matrix] | None:
    """The matrix and stored EASE weights restricted to the items the weights reach (as a
    history item or as a recommended one), when that changes no list: EASE fitted on the
    ``ease_max_items`` most popular of 50,000 items scores the 35,000 others 0 for every
    customer, and scoring them costs most of the time. They are left out when each customer
    has at least ``depth`` of them not bought: then none of the lists reaches past a score of
    0, so the items scored at most 0 are dropped from the restricted lists (a list's zeros are
    dropped anyway: nothing in the history speaks for them). None when the restriction could
    change a list (the catalogue was fitted whole)."""
    reached = np.union1d(
        np.flatnonzero(weights.getnnz(axis=1)), np.flatnonzero(weights.getnnz(axis=0))
    )
    longest = int(np.diff(matrix.bought.indptr).max(initial=0))
    if weights.shape[0] - reached.size < depth + longest:
        return None
    return matrix.with_items(reached), weights[reached][:, reached].tocsr()


#: No customers (a tenant nobody of which is to be recommended for).
_NONE = np.array([], dtype=object)


@dataclass(frozen=True)
class _Plan:
    """What one candidates job needs besides its matrix."""

    #: The customers to recommend for (None: every customer with interactions).
    targets: np.ndarray | None = None
    #: ALS factors fitted earlier on the same matrix (users, items): used instead of a fit.
    factors: tuple[np.ndarray, np.ndarray] | None = None
    #: A version's stored ALS item factors, in the matrix's item order: customers folded in.
    item_factors: np.ndarray | None = None
    #: A version's stored EASE weights (items x items, sparse), in the matrix's item order.
    weights: sp.csr_matrix | None = None


def _candidates(job: Job, matrix: TenantMatrix, plan: _Plan, num_threads: int) -> pa.Table | None:
    """Fit one algorithm on one tenant (or take its stored factors) and return the candidates
    of the target customers."""
    targets = plan.targets
    weights, positive_only = plan.weights, False
    if weights is None:  # a stored model is in the order of the tenant's whole matrix
        matrix = fitted_on(job, matrix)
    elif (reached := _reached_by(weights, matrix, job.depth)) is not None:
        matrix, weights = reached
        positive_only = True
    if matrix.affinities.nnz == 0:
        return None
    # A customer with no positive affinity (e.g. everything returned) has an empty row: every
    # model would score every item 0 for them. They get no candidates, hence popularity.
    users = np.flatnonzero(np.diff(matrix.affinities.indptr) > 0)
    if targets is not None:
        wanted = pa.array(targets, pa.string())
        is_target = pc.is_in(matrix.customer_ids.take(users), value_set=wanted)
        users = users[is_target.to_numpy(zero_copy_only=False)]
    if len(users) == 0:
        return None
    model = make_model(job, num_threads)
    if plan.factors is not None and isinstance(model, ALS):
        # stored zero-padded to the widest tenant's factors
        model.with_factors(*(f[:, : model.factors] for f in plan.factors))
    elif plan.item_factors is not None and isinstance(model, ALS):
        model.with_item_factors(plan.item_factors[:, : model.factors], matrix.affinities)
    elif weights is not None and isinstance(model, EASE):
        model.with_weights(weights)
    else:
        model.fit(matrix.affinities)
    depth = min(job.depth, matrix.affinities.shape[1])
    items, scores, because = model.recommend(matrix.affinities, users, depth, exclude=matrix.bought)
    # A candidate no history item speaks for (no positive contribution) is dropped: the list
    # is filled with popular items instead, and every kept candidate has its explanation.
    keep = (items >= 0) & (because >= 0)
    if positive_only:  # what the items the weights do not reach (all scored 0) would leave
        keep &= scores > 0
    n_per_user = keep.sum(axis=1)
    ranks = np.cumsum(keep, axis=1, dtype=np.int32)[keep]
    n = int(keep.sum())
    return pa.table(
        {
            "tenant_id": _repeated(job.tenant_id, n),
            "algorithm": _repeated(job.algorithm, n),
            "variant": _repeated(job.variant, n),
            "customer_id": matrix.customer_ids.take(np.repeat(users, n_per_user)),
            "rank": pa.array(ranks, pa.int32()),
            "item_id": matrix.item_ids.take(items[keep]),
            "score": pa.array(scores[keep], pa.float32()),
            "because_item_id": matrix.item_ids.take(because[keep]),
        },
        schema=OUTPUT_SCHEMA,
    )


def _repeated(value: str | None, n: int) -> pa.StringArray:
    """``value`` n times, as arrow strings (built in C: thousands of tenants' rows)."""
    return pa.repeat(pa.scalar(value, pa.string()), n)


def _each_tenant(
    matrices: Mapping[str, TenantMatrix],
    tasks: list[tuple[Job, Any]],
    work: Callable[[Job, TenantMatrix, Any, int], pa.Table | None],
    workers: int | None = None,
) -> list[pa.Table]:
    """``work(job, matrix, extra, num_threads)`` for every task ``(job, extra)`` whose tenant has
    a matrix, on :func:`recsql.engine.workers.run`; the non-empty tables. A task that raises
    gives no table: its tenant's run, noted in the journal with every other
    (:func:`recsql.engine.journal.note`), says why."""
    runnable = [
        (matrices[job.tenant_id].affinities.nnz, (job, matrices[job.tenant_id], extra))
        for job, extra in tasks
        if job.tenant_id in matrices
    ]
    results = engine_workers.run(functools.partial(_guarded, work), runnable, workers)
    journal.note(run for _, run in results)
    for _, run in results:
        if run.error:
            log.error("tenant %s: %s failed: %s", run.tenant_id, run.algorithm, run.error)
    return [t for t, _ in results if t is not None and t.num_rows]


def _guarded(
    work: Callable[[Job, TenantMatrix, Any, int], pa.Table | None],
    job: Job,
    matrix: TenantMatrix,
    extra: Any,
    num_threads: int,
) -> tuple[pa.Table | None, journal.Run]:
    """One task, timed; an exception is the tenant's failure, not the build's."""
    started = time.perf_counter()
    try:
        table, error = work(job, matrix, extra, num_threads), None
    except Exception as failure:  # any error of one tenant's fit is its own, not the build's
        table, error = None, journal.describe(failure)
    return table, journal.Run(job.tenant_id, job.algorithm, time.perf_counter() - started, error)


def recommend(
    interactions: pa.Table,
    jobs: list[Job],
    targets: Mapping[str, np.ndarray] | None = None,
    workers: int | None = None,
    als_factors: pa.Table | None = None,
) -> pa.Table:
    """Run every job and return all candidates (``OUTPUT_SCHEMA``).

    ``targets`` maps a tenant to the customers to recommend for (default: every customer of
    the tenant with interactions). ``als_factors``: factors :func:`factorize` fitted on the
    same interactions, for some tenants (sorted by tenant_id): their ALS jobs use them instead
    of fitting again.
    """
    started = time.perf_counter()
    matrices = tenant_matrices(interactions)
    stored = _stored_factors(als_factors, matrices) if als_factors is not None else {}
    tasks = [
        (
            job,
            _Plan(
                targets=None if targets is None else targets.get(job.tenant_id, _NONE),
                factors=stored.get(job.tenant_id) if job.algorithm == "als" else None,
            ),
        )
        for job in jobs
        if job.tenant_id in matrices
    ]
    tables = _each_tenant(matrices, tasks, _candidates, workers)
    log.info(
        "%d model(s) fitted for %d tenant(s) in %.1f s",
        len(jobs),
        len(matrices),
        time.perf_counter() - started,
    )
    return pa.concat_tables(tables) if tables else OUTPUT_SCHEMA.empty_table()


def factors_schema(width: int) -> pa.Schema:
    return pa.schema(
        [
            pa.field("tenant_id", pa.string()),
            pa.field("entity", pa.string()),
            pa.field("entity_id", pa.string()),
            pa.field("factors", pa.list_(pa.float32(), width)),
        ]
    )


def factors_width(settings: list[Mapping[str, Any]]) -> int:
    """The width of stored ALS factors: the largest ``als_factors`` setting of the tenants."""
    return max((int(s["als_factors"]) for s in settings), default=1)


def factorize(
    interactions: pa.Table,
    jobs: list[Job],
    workers: int | None = None,
    width: int | None = None,
) -> pa.Table:
    """ALS fitted per tenant (``jobs`` of algorithm 'als'): one row per tenant, entity
    ('customer' or 'item') and id, with its factors as a fixed-size float array.

    Tenants may ask for different numbers of factors: the arrays are ``width`` wide (default:
    the largest of the jobs), and a tenant's factors are padded with zeros, which changes no
    dot product.
    """
    width = width or factors_width([job.settings for job in jobs])
    started = time.perf_counter()
    tasks = [(job, width) for job in jobs]
    tables = _each_tenant(tenant_matrices(interactions), tasks, _factors, workers)
    log.info("ALS factors for %d tenant(s) in %.1f s", len(tables), time.perf_counter() - started)
    return pa.concat_tables(tables) if tables else factors_schema(width).empty_table()


def _factors(job: Job, matrix: TenantMatrix, width: int, num_threads: int) -> pa.Table | None:
    """One tenant's ALS factors, customers then items, padded to ``width``."""
    if matrix.affinities.nnz == 0:
        return None
    model = ALS.from_settings(job.settings, num_threads=num_threads).fit(matrix.affinities)
    blocks = []
    for entity, ids, factors in (
        ("customer", matrix.customer_ids, model.user_factors_),
        ("item", matrix.item_ids, model.item_factors_),
    ):
        padded = np.zeros((len(ids), width), dtype=np.float32)
        padded[:, : factors.shape[1]] = factors
        blocks.append(
            pa.table(
                {
                    "tenant_id": _repeated(job.tenant_id, len(ids)),
                    "entity": _repeated(entity, len(ids)),
                    "entity_id": ids,
                    "factors": pa.FixedSizeListArray.from_arrays(
                        pa.array(padded.ravel(), pa.float32()), width
                    ),
                },
                schema=factors_schema(width),
            )
        )
    return pa.concat_tables(blocks)


def _stored_factors(
    factors: pa.Table, matrices: Mapping[str, TenantMatrix]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per tenant, the (user, item) factors of ``factors`` (:func:`factorize`'s table, sorted by
    tenant_id) in the row and column order of the tenant's matrix; a tenant whose factors do
    not cover its matrix is left out (fitted again)."""
    out = {}
    width = factors.schema.field("factors").type.list_size
    factors, slices = grouped_by_tenant(factors)
    for tenant_id, rows in slices:
        matrix = matrices.get(tenant_id)
        if matrix is None:
            continue
        block = factors.slice(rows.start, rows.stop - rows.start)
        values = block.column("factors").combine_chunks().values.to_numpy()
        values = values.reshape(-1, width)
        entity = block.column("entity").to_numpy(zero_copy_only=False)
        ids = block.column("entity_id")
        found = []
        for name, wanted in (("customer", matrix.customer_ids), ("item", matrix.item_ids)):
            (rows_of,) = np.nonzero(entity == name)
            position = pc.index_in(wanted, value_set=ids.take(rows_of))
            if position.null_count:
                break
            found.append(values[rows_of[position.to_numpy()]])
        else:
            out[tenant_id] = (found[0], found[1])
    return out


def targets_from(customers: pa.Table) -> dict[str, np.ndarray]:
    """Customers to recommend for, by tenant, from a table of tenant_id, customer_id."""
    tenants = customers.column("tenant_id").to_numpy(zero_copy_only=False)
    ids = customers.column("customer_id").to_numpy(zero_copy_only=False)
    order = np.argsort(tenants, kind="stable")
    return {tenant: ids[order][rows] for tenant, rows in tenant_slices(tenants[order])}


NEIGHBOURS_SCHEMA = pa.schema(
    [
        pa.field("tenant_id", pa.string()),
        pa.field("item_id", pa.string()),
        pa.field("rank", pa.int64()),
        pa.field("neighbour_item_id", pa.string()),
        pa.field("weight", pa.float64()),
    ]
)


#: EASE's weights kept per item when a tenant does not set ``ease_neighbours``: this percentage
#: of the items it is fitted on, at least :data:`EASE_NEIGHBOURS_MIN`. A fixed number costs a large
#: catalogue most: on The Complete Journey's 15,000 fitted items keeping 100 per item cost EASE
#: 8 % of its NDCG and 300 cost 4 % (docs/benchmarks/complete_journey.md); on the demo's 3,700
#: items 100 score as 200 do.
EASE_NEIGHBOURS_PERCENT = 2
EASE_NEIGHBOURS_MIN = 100


def ease_weights_kept(setting: float | None, n_items: int) -> int:
    """The weights a version of EASE keeps per item: the tenant's ``ease_neighbours``, or by
    default (None) :data:`EASE_NEIGHBOURS_PERCENT` % of the ``n_items`` it is fitted on
    (rounded up), at least :data:`EASE_NEIGHBOURS_MIN`."""
    if setting is not None:
        return int(setting)
    return max(EASE_NEIGHBOURS_MIN, -(-n_items * EASE_NEIGHBOURS_PERCENT // 100))


def ease_neighbours(
    interactions: pa.Table, jobs: list[Job], workers: int | None = None
) -> pa.Table:
    """EASE fitted per tenant (``jobs`` of algorithm 'ease'; a job's ``settings`` say how many
    weights it keeps per item, :func:`ease_weights_kept`): each item's weights largest in
    magnitude (:func:`strongest_weights`), one row per tenant, item and neighbour, strongest
    first - what a version of EASE stores and serves from (:func:`recommend_stored`)."""
    started = time.perf_counter()
    matrices = tenant_matrices(interactions)
    tasks = [(job, None) for job in jobs if job.tenant_id in matrices]
    tables = _each_tenant(matrices, tasks, _neighbours, workers)
    log.info("EASE weights for %d tenant(s) in %.1f s", len(tables), time.perf_counter() - started)
    return pa.concat_tables(tables) if tables else NEIGHBOURS_SCHEMA.empty_table()


def _neighbours(job: Job, matrix: TenantMatrix, _: None, num_threads: int) -> pa.Table | None:
    matrix = fitted_on(job, matrix)
    if matrix.affinities.nnz == 0:
        return None
    model = make_model(job, num_threads)
    assert isinstance(model, EASE)
    # strongest first within each item
    kept = ease_weights_kept(job.settings.get("ease_neighbours"), len(matrix.item_ids))
    rows, columns, values = strongest_weights(model.fit(matrix.affinities).item_weights_, kept)
    counts = np.bincount(rows, minlength=len(matrix.item_ids))
    ranks = np.arange(len(rows)) - (np.cumsum(counts) - counts)[rows] + 1
    return pa.table(
        {
            "tenant_id": _repeated(job.tenant_id, len(rows)),
            "item_id": matrix.item_ids.take(rows),
            "rank": pa.array(ranks, pa.int64()),
            "neighbour_item_id": matrix.item_ids.take(columns),
            "weight": pa.array(values, pa.float64()),
        },
        schema=NEIGHBOURS_SCHEMA,
    )


def recommend_stored(
    interactions: pa.Table,
    jobs: list[Job],
    neighbours: pa.Table,
    factors: pa.Table,
    workers: int | None = None,
) -> pa.Table:
    """Candidates from the stored models of the tenants' versions, on today's ``interactions``
    (no fit): ``jobs`` name each tenant's algorithm ('als' or 'ease'), variant and the
    settings it was trained with. ``neighbours``: tenant_id, item_id, neighbour_item_id,
    weight (EASE's stored weights); ``factors``: tenant_id, item_id, factors (ALS's stored
    item factors; a customer's are folded in from their history). Items the version does not
    know get no weights or zero factors: they can be filled in by the lists, not recommended
    by the model. Returns ``OUTPUT_SCHEMA``."""
    started = time.perf_counter()
    matrices = tenant_matrices(interactions)
    weights = _by_tenant(neighbours)
    item_factors = _by_tenant(factors)
    tasks = []
    for job in jobs:
        matrix = matrices.get(job.tenant_id)
        if matrix is None:
            continue
        plan = _stored_plan(
            job, matrix, weights.get(job.tenant_id), item_factors.get(job.tenant_id)
        )
        if plan is not None:
            tasks.append((job, plan))
    tables = _each_tenant(matrices, tasks, _candidates, workers)
    log.info(
        "candidates of %d stored model(s) in %.1f s", len(tasks), time.perf_counter() - started
    )
    return pa.concat_tables(tables) if tables else OUTPUT_SCHEMA.empty_table()


def _stored_plan(
    job: Job,
    matrix: TenantMatrix,
    weights: pa.Table | None,
    factors: pa.Table | None,
    targets: np.ndarray | None = None,
) -> _Plan | None:
    """How a job scores from its version's stored model: EASE from ``weights`` (item_id,
    neighbour_item_id, weight), ALS from item ``factors`` (item_id, factors); None (logged)
    when the model it needs is not there."""
    if job.algorithm == "ease" and weights is not None:
        return _Plan(targets=targets, weights=aligned_weights(weights, matrix.item_ids))
    if job.algorithm == "als" and factors is not None:
        return _Plan(targets=targets, item_factors=_aligned_factors(factors, matrix.item_ids))
    log.warning("tenant %s: no stored %s model; no candidates", job.tenant_id, job.algorithm)
    return None


def stored_candidates(
    job: Job,
    matrix: TenantMatrix,
    weights: pa.Table | None,
    factors: pa.Table | None,
    targets: np.ndarray,
) -> pa.Table | None:
    """The candidates (``OUTPUT_SCHEMA``) of the ``targets`` customers of one tenant's matrix
    from a version's stored model (see :func:`recommend_stored`), in this process."""
    scorer = stored_scorer(job, matrix, weights, factors)
    return None if scorer is None else scorer(targets)


def stored_scorer(
    job: Job,
    matrix: TenantMatrix,
    weights: pa.Table | None,
    factors: pa.Table | None,
    num_threads: int = 1,
) -> Callable[[np.ndarray], pa.Table | None] | None:
    """What scores any of one tenant's customers (their ids: the ``targets``) from a version's
    stored model, as :func:`stored_candidates` does, the model aligned to the matrix once: a
    large tenant's customers can be scored a batch at a time. None (logged) when the model is
    not there."""
    plan = _stored_plan(job, matrix, weights, factors)
    if plan is None:
        return None
    return lambda targets: _candidates(
        job, matrix, dataclasses.replace(plan, targets=targets), num_threads
    )


def _by_tenant(table: pa.Table) -> dict[str, pa.Table]:
    """The rows of each tenant of ``table`` (any order)."""
    table, slices = grouped_by_tenant(table)
    return {tenant: table.slice(rows.start, rows.stop - rows.start) for tenant, rows in slices}


def aligned_weights(rows: pa.Table, item_ids: pa.StringArray) -> sp.csr_matrix:
    """Stored weights (item_id, neighbour_item_id, weight) as a sparse matrix in the order of
    ``item_ids``; pairs with an item not there are left out."""
    source = pc.index_in(rows.column("item_id"), value_set=item_ids).to_numpy(zero_copy_only=False)
    target = pc.index_in(rows.column("neighbour_item_id"), value_set=item_ids).to_numpy(
        zero_copy_only=False
    )
    known = ~(np.isnan(source.astype(float)) | np.isnan(target.astype(float)))
    values = rows.column("weight").to_numpy(zero_copy_only=False)[known]
    n = len(item_ids)
    return sp.csr_matrix(
        (
            values.astype(np.float32),
            (source[known].astype(np.int64), target[known].astype(np.int64)),
        ),
        shape=(n, n),
    )


def _aligned_factors(rows: pa.Table, item_ids: pa.StringArray) -> np.ndarray:
    """Stored item factors (item_id, factors) as a dense array in the order of ``item_ids``;
    an item not there has zero factors."""
    vectors = rows.column("factors").combine_chunks()
    width = len(vectors[0]) if len(vectors) else 1
    values = vectors.flatten().to_numpy(zero_copy_only=False).reshape(-1, width)
    out = np.zeros((len(item_ids), width), dtype=np.float32)
    position = pc.index_in(item_ids, value_set=rows.column("item_id"))
    found = position.is_valid().to_numpy(zero_copy_only=False)
    out[found] = values[position.drop_null().to_numpy()]
    return out
