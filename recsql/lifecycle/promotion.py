"""The promotion gate: a candidate version against the active one, out of time.

A candidate is trained at one build and judged at a later one, on what neither version has
seen: the customers who had a history up to the candidate's ``data_until`` and bought, after
it, something they had never bought (the discover shelf). Each version makes its champion's
list for them from its **stored model** — the form it serves from — on those histories, and
the lists are scored with NDCG@k against what they bought. The candidate becomes active when
its NDCG beats the active version's by more than ``promotion_margin`` (a tie keeps the active);
otherwise it is rejected. ``models/engine/promotion_judgements.py`` calls :func:`judge`; the
state records the verdict (:func:`recsql.lifecycle.state.pending`; docs/lifecycle.md).

Lists per algorithm, as the offline evaluation makes them (no popularity fill):
``popularity`` the version's most popular items (the tenant's, not per country) the customer
has not bought; ``cooccurrence`` the sum over the customer's ``history_cap`` latest purchases
of similarity x 0.5 ^ (days since bought / half_life_days); ``ease`` and ``als`` as
:func:`recsql.engine.candidates.stored_candidates` scores them (a ranked variant's
``candidates_n`` best re-ordered by its stored ranker, :func:`recsql.engine.ranker.rerank`,
with the context of the judged histories: the purchases up to the cutoff and the items; a
blend's union of its EASE variants' candidates ranked by its stored blend,
:func:`recsql.engine.blend.rerank`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from recsql.engine import blend, candidates, ranker
from recsql.engine.algorithms import topn
from recsql.engine.tenancy import tenant_slices

#: What :func:`judge` returns, one row per judged tenant.
JUDGEMENTS_SCHEMA = pa.schema(
    [
        pa.field("tenant_id", pa.string()),
        pa.field("active_version", pa.string()),
        pa.field("candidate_version", pa.string()),
        pa.field("window_customers", pa.int64()),
        pa.field("judged_customers", pa.int64()),
        pa.field("active_ndcg", pa.float64()),
        pa.field("candidate_ndcg", pa.float64()),
        pa.field("promotion_margin", pa.float64()),
        pa.field("verdict", pa.string()),
        pa.field("reason", pa.string()),
    ]
)


@dataclass(frozen=True)
class Version:
    """One version of a tenant as the gate scores it: its champion and the settings it was
    trained with (``model_versions.parameters``)."""

    version: str
    algorithm: str
    variant: str | None
    parameters: Mapping[str, Any]
    #: The newest interaction it was trained on: its ranker's items are aged as of it.
    data_until: Any = None


@dataclass(frozen=True)
class Judged:
    """A tenant whose candidate is judged: both versions, and what the judgement needs."""

    tenant_id: str
    active: Version
    candidate: Version
    cutoff: Any
    window_customers: int
    k: int
    history_cap: int
    half_life_days: float
    margin: float


@dataclass(frozen=True)
class _Histories:
    """One tenant's histories up to the cutoff, and what each customer bought after it."""

    matrix: candidates.TenantMatrix
    #: The purchases before the cutoff: customer and item indices, days since bought.
    customers: np.ndarray
    items: np.ndarray
    age_days: np.ndarray
    #: Per target customer (row index), the items (column indices) they bought new after.
    relevant: dict[int, set[int]]
    #: What a ranker knows of the customers and items from the purchases up to the cutoff.
    context: ranker.Context


def judge(
    judged: list[Judged],
    interactions: pa.Table,
    items: pa.Table,
    forms: Mapping[str, pa.Table],
) -> pa.Table:
    """The verdict of each judged tenant (``JUDGEMENTS_SCHEMA``).

    ``interactions``: ``int_judging_interactions`` (tenant_id, customer_id, item_id, affinity,
    purchase_occasions, first_purchased_at, last_purchased_at, is_bought_after). ``items``:
    the judged tenants' tenant_id, item_id, category and price (``stg_items``). ``forms``: the
    stored models of both versions — ``neighbours`` (tenant_id, version, algorithm, item_id,
    neighbour_item_id, weight), ``factors`` (tenant_id, version, item_id, factors),
    ``popularity`` (tenant_id, version, country, item_id, score, buyers, popularity_rank),
    ``trends`` (tenant_id, version, item_id, score, recent_buyers) and ``rankers``
    (tenant_id, version, weights): a ranked version's learned ranker re-orders its model's
    candidates as it does when it serves."""
    interactions = interactions.sort_by(
        [("tenant_id", "ascending"), ("customer_id", "ascending"), ("item_id", "ascending")]
    )
    cutoffs = {tenant.tenant_id: tenant.cutoff for tenant in judged}
    histories = dict(_histories(interactions, cutoffs, items))
    rows = []
    for tenant in judged:
        found = histories.get(tenant.tenant_id)
        scores = {
            role: _ndcg(tenant, version, found, forms) if found else 0.0
            for role, version in (("active", tenant.active), ("candidate", tenant.candidate))
        }
        customers = len(found.relevant) if found else 0
        promoted = customers > 0 and scores["candidate"] > scores["active"] + tenant.margin
        rows.append(
            {
                "tenant_id": tenant.tenant_id,
                "active_version": tenant.active.version,
                "candidate_version": tenant.candidate.version,
                "window_customers": tenant.window_customers,
                "judged_customers": customers,
                "active_ndcg": scores["active"],
                "candidate_ndcg": scores["candidate"],
                "promotion_margin": tenant.margin,
                "verdict": "promoted" if promoted else "rejected",
                "reason": _reason(tenant, scores, customers, promoted),
            }
        )
    return pa.Table.from_pylist(rows, schema=JUDGEMENTS_SCHEMA)


def _reason(tenant: Judged, scores: Mapping[str, float], customers: int, promoted: bool) -> str:
    if customers == 0:
        return (
            f"rejected: no customer with a history up to {tenant.cutoff:%Y-%m-%d %H:%M} bought "
            f"something new after it; version {tenant.active.version} kept"
        )
    margin = f" + promotion_margin {tenant.margin:g}" if tenant.margin else ""
    comparison = ">" if promoted else "<="
    outcome = "promoted" if promoted else "rejected"
    return (
        f"{outcome}: NDCG@{tenant.k} {scores['candidate']:.4f} {comparison} "
        f"{scores['active']:.4f} of version {tenant.active.version}{margin}, on {customers} "
        f"customers who bought something new after {tenant.cutoff:%Y-%m-%d %H:%M}"
    )


def _histories(
    interactions: pa.Table, cutoffs: Mapping[str, Any], items: pa.Table
) -> Iterator[tuple[str, _Histories]]:
    matrices = candidates.tenant_matrices(interactions)
    purchases = interactions.filter(pc.greater(interactions["purchase_occasions"], 0))
    contexts = ranker.contexts(
        purchases.select(["tenant_id", "customer_id", "item_id", "first_purchased_at"]),
        items.select(["tenant_id", "item_id", "category", "price"]),
        cutoffs,
    )
    tenants = interactions.column("tenant_id").to_numpy(zero_copy_only=False)
    for tenant_id, rows in tenant_slices(tenants):
        matrix = matrices[tenant_id]
        part = interactions.slice(rows.start, rows.stop - rows.start)
        row = pc.index_in(part["customer_id"], value_set=matrix.customer_ids).to_numpy()
        column = pc.index_in(part["item_id"], value_set=matrix.item_ids).to_numpy()
        last = part["last_purchased_at"]
        cutoff = pa.scalar(cutoffs[tenant_id], last.type)
        seconds = pc.seconds_between(last, cutoff).to_numpy(zero_copy_only=False)
        bought = pc.is_valid(last).to_numpy(zero_copy_only=False)
        is_new = part["is_bought_after"].to_numpy(zero_copy_only=False) & (
            part["purchase_occasions"].to_numpy(zero_copy_only=False) == 0
        )
        has_history = np.diff(matrix.affinities.indptr) > 0
        relevant: dict[int, set[int]] = {}
        for customer, item in zip(row[is_new], column[is_new], strict=True):
            if has_history[customer]:
                relevant.setdefault(int(customer), set()).add(int(item))
        yield (
            tenant_id,
            _Histories(
                matrix,
                row[bought],
                column[bought],
                seconds[bought].astype(float) / 86400.0,
                relevant,
                contexts[tenant_id],
            ),
        )


def _ndcg(
    tenant: Judged, version: Version, histories: _Histories, forms: Mapping[str, pa.Table]
) -> float:
    """The mean NDCG@k of ``version``'s lists for the customers with something relevant (a
    customer it makes no list for counts as zero)."""
    lists = _lists(tenant, version, histories, forms)
    discounts = 1 / np.log2(np.arange(2, tenant.k + 2))
    total = 0.0
    for customer, relevant in histories.relevant.items():
        found = lists.get(customer, [])[: tenant.k]
        dcg = sum(discounts[rank] for rank, item in enumerate(found) if item in relevant)
        total += dcg / discounts[: min(len(relevant), tenant.k)].sum()
    return total / len(histories.relevant) if histories.relevant else 0.0


def _rows_of(table: pa.Table, tenant_id: str, version: str) -> pa.Table:
    return table.filter(
        pc.and_(pc.equal(table["tenant_id"], tenant_id), pc.equal(table["version"], version))
    )


def _lists(
    tenant: Judged, version: Version, histories: _Histories, forms: Mapping[str, pa.Table]
) -> dict[int, list[int]]:
    """Each target customer's list by ``version`` (row index -> item column indices, best
    first; an item no judged history holds cannot be relevant, and is left out)."""
    matrix = histories.matrix
    targets = np.array(sorted(histories.relevant), dtype=np.int64)
    neighbours = _rows_of(forms["neighbours"], tenant.tenant_id, version.version)
    if version.algorithm in ("ease", "als"):
        weights = _ranker_weights(tenant, version, forms)
        # a ranked version re-orders its model's candidates_n best, as it serves them
        depth = tenant.k if weights is None else int(version.parameters["candidates_n"])
        factors = _rows_of(forms["factors"], tenant.tenant_id, version.version)
        customers = matrix.customer_ids.take(targets).to_numpy(zero_copy_only=False)

        def scored(variant: str | None, stored_as: str) -> pa.Table | None:
            job = candidates.Job(
                tenant.tenant_id, version.algorithm, depth, version.parameters, variant
            )
            ease = neighbours.filter(pc.equal(neighbours["algorithm"], stored_as))
            return candidates.stored_candidates(
                job, matrix, ease if ease.num_rows else None, factors, customers
            )

        context = {tenant.tenant_id: histories.context.as_of(version.data_until or tenant.cutoff)}
        if blend.is_blend(version.variant):  # the union of its variants' candidates, blended
            made = [scored(maker, blend.stored_algorithm(maker)) for maker in blend.MAKERS]
            if weights is None or any(table is None for table in made):
                return {}
            found = blend.rerank(
                [table for table in made if table is not None],
                {tenant.tenant_id: weights},
                _item_features(tenant, version, forms),
                context,
                {tenant.tenant_id: depth},
            )
        else:
            found = scored(version.variant, "ease")
            if found is None:
                return {}
            if weights is not None:
                found = ranker.rerank(
                    found,
                    {tenant.tenant_id: weights},
                    _item_features(tenant, version, forms),
                    context,
                )
        return _grouped(found.filter(pc.less_equal(found["rank"], tenant.k)), matrix)
    if version.algorithm == "cooccurrence":
        return _cooccurrence_lists(tenant, neighbours, histories, targets)
    popularity = _rows_of(forms["popularity"], tenant.tenant_id, version.version)
    popularity = popularity.filter(pc.is_null(popularity["country"])).sort_by("popularity_rank")
    # an item no judged history holds (-1) keeps its place in the list: a miss
    ranked = pc.index_in(popularity["item_id"], value_set=matrix.item_ids).fill_null(-1).to_numpy()
    lists = {}
    for customer in targets:
        bought = set(matrix.bought[customer].indices)
        found = []
        for item in ranked:
            if item not in bought:
                found.append(int(item))
                if len(found) == tenant.k:
                    break
        lists[int(customer)] = found
    return lists


def _ranker_weights(
    tenant: Judged, version: Version, forms: Mapping[str, pa.Table]
) -> list[float] | None:
    """The weights of ``version``'s stored ranker, if its champion is ranked (else None)."""
    stored = forms.get("rankers")
    if not ranker.is_ranked(version.variant) or stored is None:
        return None
    rows = _rows_of(stored, tenant.tenant_id, version.version)
    return rows["weights"][0].as_py() if rows.num_rows else None


def _item_features(tenant: Judged, version: Version, forms: Mapping[str, pa.Table]) -> pa.Table:
    """What ``version``'s ranker knows of each item (ranker.ITEM_COLUMNS), from its stored
    popularity (the tenant's) and trends, as macros/ranking_item_features.sql reads them."""
    popularity = _rows_of(forms["popularity"], tenant.tenant_id, version.version)
    popularity = popularity.filter(pc.is_null(popularity["country"]))
    trends = _rows_of(forms["trends"], tenant.tenant_id, version.version)
    return (
        popularity.select(["tenant_id", "item_id", "buyers", "score"])
        .rename_columns(["tenant_id", "item_id", "buyers", "popularity"])
        .join(
            trends.select(["tenant_id", "item_id", "score", "recent_buyers"]).rename_columns(
                ["tenant_id", "item_id", "trend_score", "recent_buyers"]
            ),
            keys=["tenant_id", "item_id"],
            join_type="full outer",
        )
    )


def _top(
    tenant: Judged,
    matrix: candidates.TenantMatrix,
    targets: np.ndarray,
    scores_of: Any,
    batch: int = 256,
) -> dict[int, list[int]]:
    """The k best items of each target customer not bought before (``scores_of(customers)``:
    their dense scores; -inf never listed), in batches of customers."""
    lists: dict[int, list[int]] = {}
    for start in range(0, len(targets), batch):
        customers = targets[start : start + batch]
        items, best = topn(
            scores_of(customers),
            min(tenant.k, matrix.affinities.shape[1]),
            exclude=matrix.bought[customers],
            overwrite_scores=True,
        )
        for customer, row, values in zip(customers, items, best, strict=True):
            lists[int(customer)] = [int(i) for i, v in zip(row, values, strict=True) if v > -np.inf]
    return lists


def _grouped(found: pa.Table, matrix: candidates.TenantMatrix) -> dict[int, list[int]]:
    found = found.sort_by([("customer_id", "ascending"), ("rank", "ascending")])
    rows = pc.index_in(found["customer_id"], value_set=matrix.customer_ids).to_numpy()
    items = pc.index_in(found["item_id"], value_set=matrix.item_ids).to_numpy()
    lists: dict[int, list[int]] = {}
    for customer, item in zip(rows, items, strict=True):
        lists.setdefault(int(customer), []).append(int(item))
    return lists


def _cooccurrence_lists(
    tenant: Judged, neighbours: pa.Table, histories: _Histories, targets: np.ndarray
) -> dict[int, list[int]]:
    """Co-occurrence from the stored similarities, as macros/cooccurrence_candidates.sql scores
    it: each of a customer's ``history_cap`` latest purchases (ties: the lower item id) adds
    its similarities, decayed by the days since it was bought; items nothing speaks for are
    not listed."""
    matrix = histories.matrix
    similarities = candidates.aligned_weights(
        neighbours.filter(pc.equal(neighbours["algorithm"], "cooccurrence")), matrix.item_ids
    )
    position = np.full(matrix.affinities.shape[0], -1)
    position[targets] = np.arange(len(targets))
    is_target = position[histories.customers] >= 0
    customers = histories.customers[is_target]
    items = histories.items[is_target]
    age = histories.age_days[is_target]
    item_rank = np.argsort(np.argsort(matrix.item_ids.to_numpy(zero_copy_only=False)))
    order = np.lexsort((item_rank[items], age, customers))
    customers, items, age = customers[order], items[order], age[order]
    starts = np.searchsorted(customers, customers, side="left")
    kept = np.arange(len(customers)) - starts < tenant.history_cap
    recency = sp.csr_matrix(
        (
            np.power(0.5, age[kept] / tenant.half_life_days),
            (position[customers[kept]], items[kept]),
        ),
        shape=(len(targets), matrix.affinities.shape[1]),
    )
    scores = (recency @ similarities).tocsr()

    def dense(batch: np.ndarray) -> np.ndarray:
        rows = scores[position[batch]].toarray().astype(np.float32)
        rows[rows <= 0] = -np.inf
        return rows

    return _top(tenant, matrix, targets, dense)


def judged_tenants(
    plans: list[dict[str, Any]],
    versions: Mapping[tuple[str, str], dict[str, Any]],
    settings: Mapping[str, dict[str, Any]],
) -> list[Judged]:
    """The tenants whose candidate is judged (``plans``: tenant_plans rows of trigger
    'promotion'), with both versions (``versions`` by tenant and version: algorithm,
    variant, parameters as JSON, data_until) and their settings (k, history_cap, half_life_days,
    promotion_margin)."""

    def version(tenant_id: str, name: str) -> Version:
        row = versions[tenant_id, name]
        return Version(
            name,
            row["algorithm"],
            row["variant"],
            json.loads(row["parameters"]),
            row.get("data_until"),
        )

    return [
        Judged(
            tenant_id=plan["tenant_id"],
            active=version(plan["tenant_id"], plan["active_version"]),
            candidate=version(plan["tenant_id"], plan["candidate_version"]),
            cutoff=plan["candidate_data_until"],
            window_customers=int(plan["window_customers"]),
            k=int(settings[plan["tenant_id"]]["k"]),
            history_cap=int(settings[plan["tenant_id"]]["history_cap"]),
            half_life_days=float(settings[plan["tenant_id"]]["half_life_days"]),
            margin=float(settings[plan["tenant_id"]]["promotion_margin"]),
        )
        for plan in plans
    ]
