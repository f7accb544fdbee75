"""Candidate lists from the matrix algorithms (ALS, EASE), tenant by tenant.

The dbt Python models ``holdout_candidates`` and ``customer_candidates`` hand this module the
weighted interactions of one fold (``int_interactions_weighted``) and a plan — which algorithm
to run for which tenant, how deep, with which settings, for which customers — and get back one
row per customer and rank. Each tenant gets its own matrix, its own model and its own
candidates: no tenant's rows ever reach another tenant's model.

Small tenants are fitted side by side on a thread pool (implicit and numpy release the GIL),
each single-threaded; a large tenant is fitted alone with every core.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from recsql.algorithms import ALS, EASE, Recommender
from recsql.tenancy import tenant_slices

log = logging.getLogger(__name__)

#: A tenant with at least this many non-zeros is fitted alone, with every core.
LARGE_TENANT_NNZ = 100_000

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
    customer_ids: np.ndarray
    item_ids: np.ndarray
    #: Customers x items, positive affinities only (what models are fitted on).
    affinities: sp.csr_matrix
    #: Customers x items, the items each customer bought (never recommended on "discover").
    bought: sp.csr_matrix


#: The variants of each algorithm evaluated on every tenant's holdout; the best serves.
#: EASE learns from the square roots of the affinities (recency and quantity shape the item
#: weights) or from the binarised matrix (every interaction counts the same): which one wins
#: depends on the tenant's data (views and clicks, seasons), so each tenant's holdout decides.
VARIANTS: Mapping[str, tuple[str | None, ...]] = {"als": (None,), "ease": ("sqrt", "binary")}


@dataclass(frozen=True)
class Job:
    """One algorithm (and variant) to run for one tenant."""

    tenant_id: str
    algorithm: str
    depth: int
    settings: Mapping[str, float]
    variant: str | None = None


def tenant_matrices(interactions: pa.Table) -> dict[str, TenantMatrix]:
    """Matrices per tenant from rows sorted by tenant_id, customer_id, item_id.

    ``interactions``: tenant_id, customer_id, item_id, affinity, purchase_occasions. Row and
    column indices follow the order of first appearance, so the sort makes them - and every
    model fitted on them - the same from one build to the next.
    """
    tenants = interactions.column("tenant_id").to_numpy(zero_copy_only=False)
    affinity = interactions.column("affinity").to_numpy(zero_copy_only=False).astype(np.float32)
    is_bought = interactions.column("purchase_occasions").to_numpy(zero_copy_only=False) > 0
    matrices = {}
    for tenant_id, rows in tenant_slices(tenants):
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
            customer_ids=np.asarray(customers.dictionary.to_pylist(), dtype=object),
            item_ids=np.asarray(items.dictionary.to_pylist(), dtype=object),
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


def make_model(job: Job, num_threads: int) -> Recommender:
    s = job.settings
    if job.algorithm == "als":
        return ALS(
            factors=int(s["als_factors"]),
            regularization=float(s["als_regularization"]) or 1e-6,
            alpha=float(s["als_alpha"]),
            iterations=int(s["als_iterations"]),
            num_threads=num_threads,
        )
    if job.algorithm == "ease":
        return EASE(regularization=float(s["ease_lambda"]), values=job.variant or "sqrt")
    raise ValueError(f"{job.algorithm!r} is not a matrix algorithm")


def _run(
    job: Job, matrix: TenantMatrix, targets: np.ndarray | None, num_threads: int
) -> pa.Table | None:
    """Fit one algorithm on one tenant and return the candidates of the target customers."""
    if job.algorithm == "ease" and matrix.affinities.shape[1] > job.settings["ease_max_items"]:
        log.info(
            "EASE skipped for tenant %s: %d items, more than ease_max_items = %d",
            job.tenant_id,
            matrix.affinities.shape[1],
            job.settings["ease_max_items"],
        )
        return None
    if matrix.affinities.nnz == 0:
        return None
    # A customer with no positive affinity (e.g. everything returned) has an empty row: every
    # model would score every item 0 for them. They get no candidates, hence popularity.
    users = np.flatnonzero(np.diff(matrix.affinities.indptr) > 0)
    if targets is not None:
        users = users[np.isin(matrix.customer_ids[users], targets)]
    if len(users) == 0:
        return None
    model = make_model(job, num_threads).fit(matrix.affinities)
    depth = min(job.depth, matrix.affinities.shape[1])
    items, scores, because = model.recommend(matrix.affinities, users, depth, exclude=matrix.bought)
    # A candidate no history item speaks for (no positive contribution) is dropped: the list
    # is filled with popular items instead, and every kept candidate has its explanation.
    keep = (items >= 0) & (because >= 0)
    n_per_user = keep.sum(axis=1)
    ranks = np.cumsum(keep, axis=1, dtype=np.int32)[keep]
    because_ids = matrix.item_ids[because[keep]]
    n = int(keep.sum())
    return pa.table(
        {
            "tenant_id": pa.array(np.full(n, job.tenant_id, dtype=object), pa.string()),
            "algorithm": pa.array(np.full(n, job.algorithm, dtype=object), pa.string()),
            "variant": pa.array(np.full(n, job.variant, dtype=object), pa.string()),
            "customer_id": pa.array(np.repeat(matrix.customer_ids[users], n_per_user), pa.string()),
            "rank": pa.array(ranks, pa.int32()),
            "item_id": pa.array(matrix.item_ids[items[keep]], pa.string()),
            "score": pa.array(scores[keep], pa.float32()),
            "because_item_id": pa.array(because_ids, pa.string()),
        },
        schema=OUTPUT_SCHEMA,
    )


def _each_tenant(
    matrices: Mapping[str, TenantMatrix],
    jobs: list[Job],
    work: Callable[[Job, TenantMatrix, int], pa.Table | None],
    workers: int | None = None,
) -> list[pa.Table]:
    """Run ``work(job, matrix, num_threads)`` for every job whose tenant has a matrix: large
    tenants one after the other with every core, small ones side by side, one thread each."""
    runnable = [job for job in jobs if job.tenant_id in matrices]
    runnable.sort(key=lambda job: -matrices[job.tenant_id].affinities.nnz)
    large = [j for j in runnable if matrices[j.tenant_id].affinities.nnz >= LARGE_TENANT_NNZ]
    small = [j for j in runnable if matrices[j.tenant_id].affinities.nnz < LARGE_TENANT_NNZ]
    results = [work(job, matrices[job.tenant_id], 0) for job in large]
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        results += list(pool.map(lambda job: work(job, matrices[job.tenant_id], 1), small))
    return [t for t in results if t is not None and t.num_rows]


def recommend(
    interactions: pa.Table,
    jobs: list[Job],
    targets: Mapping[str, np.ndarray] | None = None,
    workers: int | None = None,
) -> pa.Table:
    """Run every job and return all candidates (``OUTPUT_SCHEMA``).

    ``targets`` maps a tenant to the customers to recommend for (default: every customer of
    the tenant with interactions).
    """
    started = time.perf_counter()
    matrices = tenant_matrices(interactions)

    def work(job: Job, matrix: TenantMatrix, num_threads: int) -> pa.Table | None:
        tenant_targets = None if targets is None else targets.get(job.tenant_id, np.array([]))
        return _run(job, matrix, tenant_targets, num_threads)

    tables = _each_tenant(matrices, jobs, work, workers)
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


def factorize(interactions: pa.Table, jobs: list[Job], workers: int | None = None) -> pa.Table:
    """ALS fitted per tenant (``jobs`` of algorithm 'als'): one row per tenant, entity
    ('customer' or 'item') and id, with its factors as a fixed-size float array.

    Tenants may ask for different numbers of factors: the arrays have the largest width, and a
    tenant's factors are padded with zeros, which changes no dot product.
    """
    width = max((int(job.settings["als_factors"]) for job in jobs), default=1)
    schema = factors_schema(width)

    def work(job: Job, matrix: TenantMatrix, num_threads: int) -> pa.Table | None:
        if matrix.affinities.nnz == 0:
            return None
        model = make_model(job, num_threads).fit(matrix.affinities)
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
                        "tenant_id": pa.array([job.tenant_id] * len(ids), pa.string()),
                        "entity": pa.array([entity] * len(ids), pa.string()),
                        "entity_id": pa.array(ids, pa.string()),
                        "factors": pa.FixedSizeListArray.from_arrays(
                            pa.array(padded.ravel(), pa.float32()), width
                        ),
                    },
                    schema=schema,
                )
            )
        return pa.concat_tables(blocks)

    started = time.perf_counter()
    tables = _each_tenant(tenant_matrices(interactions), jobs, work, workers)
    log.info("ALS factors for %d tenant(s) in %.1f s", len(tables), time.perf_counter() - started)
    return pa.concat_tables(tables) if tables else schema.empty_table()


def targets_from(customers: pa.Table) -> dict[str, np.ndarray]:
    """Customers to recommend for, by tenant, from a table of tenant_id, customer_id."""
    tenants = customers.column("tenant_id").to_numpy(zero_copy_only=False)
    ids = customers.column("customer_id").to_numpy(zero_copy_only=False)
    order = np.argsort(tenants, kind="stable")
    return {tenant: ids[order][rows] for tenant, rows in tenant_slices(tenants[order])}
