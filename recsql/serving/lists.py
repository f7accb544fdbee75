"""Lists made at query time, from a tenant loaded in memory (:mod:`recsql.serving.tenant`).

When the caller says what the customer is looking at now (``context_items``), a list is
blended from several sources, each ranked as the rules would rank it: the customer's prebaked
list (its ranks already carry the build's boosts), the items most often bought with the context
items, and — for a customer the build never saw — ALS folded in from them (one least squares
solve against the published item factors, :func:`recsql.engine.algorithms.als.fold_in`). The
sources are fused by reciprocal rank; popular items and then every other item of the tenant
follow as fills. Every candidate is judged by the build's verdicts for the person's rule class
(:mod:`recsql.rules.verdicts`): blocked items go, boosts and the sustainability nudge order a
source's candidates before they are ranked (so a boost counts once), and the category caps are
walked in list order by the build's own :func:`recsql.rules.caps.keep`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa

from recsql.engine.algorithms.als import fold_in
from recsql.rules import caps, verdicts
from recsql.serving.results import Recommendation, Recommendations
from recsql.serving.tenant import Tenant

#: Reciprocal rank fusion constant: a candidate at rank r of a source adds 1 / (RRF_K + r).
RRF_K = 60
#: How many items a folded-in customer's ALS scores contribute to the blend.
FOLD_IN_CANDIDATES = 50
_CAPS = pa.list_(pa.struct([("rule_key", pa.string()), ("cap", pa.int32())]))


class Person(NamedTuple):
    """Whom a list is for, as the rules see them."""

    rule_class: int
    country: str | None
    sustainability_average: float | None
    #: Items never listed: what the customer bought (discover) and the context items.
    left_out: frozenset[str]
    #: The `nothing` rule that leaves them without any list, or None.
    nothing_rule: str | None = None


class Fill(NamedTuple):
    """A list that fills a blended list: (item, score, reason) rows, best first."""

    items: Sequence[tuple[str, float, str]]
    #: Whether the build already judged these rows for the person (a visitor's popular list):
    #: they keep their scores and order; otherwise they are adjusted and ordered like any.
    is_judged: bool = False


class _Row(NamedTuple):
    item_id: str
    score: float
    reason: str
    algorithm: str
    category: str | None
    #: The cap rules counting the item: {rule_key, cap} each.
    counted_by: tuple[Mapping[str, Any], ...]


def popular(tenant: Tenant, country: str | None, k: int) -> Recommendations:
    """What the ``popular`` macro gives a visitor from ``country``: the build's list."""
    listed = tenant.visitor_lists.get(tenant.list_country(country), [])[:k]
    return Recommendations(
        Recommendation(rank, item_id, score, reason, "popularity")
        for rank, (item_id, score, reason) in enumerate(listed, 1)
    )


def blend(
    tenant: Tenant,
    person: Person,
    own: Sequence[Recommendation],
    context: Sequence[str],
    k: int,
    *,
    fold_in_context: bool,
    fills: Sequence[Fill],
) -> list[Recommendation]:
    """The person's list: ``own`` (a prebaked list) and the neighbours of the ``context`` items
    (and, with ``fold_in_context``, ALS folded in from them) fused by reciprocal rank, then each
    of ``fills`` in order, then - if those leave it short - every other item of the tenant;
    judged, capped, k long."""
    if person.nothing_rule is not None:
        return []
    fused: dict[str, float] = {}
    best: dict[str, tuple[int, str, str]] = {}  # item -> (rank in its best source, why, how)

    def add(rows: Iterable[_Row]) -> None:
        for rank, row in enumerate(rows, 1):
            fused[row.item_id] = fused.get(row.item_id, 0.0) + 1.0 / (RRF_K + rank)
            if row.item_id not in best or rank < best[row.item_id][0]:
                best[row.item_id] = (rank, row.reason, row.algorithm)

    own_rows = ((r.item_id, r.score, r.reason, r.algorithm) for r in own)
    add(_judged(tenant, person, own_rows, adjust=False))  # its ranks carry the build's boosts
    add(_judged(tenant, person, _neighbours(tenant, context)))
    if fold_in_context and tenant.factors is not None:
        add(_judged(tenant, person, _folded_in(tenant, context)))
    blended = [
        _row(tenant, person, item, fused[item], best[item][1], best[item][2])
        for item in sorted(fused, key=lambda item: (-fused[item], item))
    ]
    sources = [blended]
    sources += [
        _judged(
            tenant,
            person,
            ((item, score, reason, "popularity") for item, score, reason in fill.items),
            adjust=not fill.is_judged,
        )
        for fill in fills
    ]
    rows = _capped(sources, k)
    if len(rows) < k:  # the last fill: every other item, judged only when the list needs it
        rest = ((item, 0.0, "popular", "popularity") for item in tenant.items)  # in id order
        rows = _capped([*sources, _judged(tenant, person, rest)], k)
    return rows


def _row(
    tenant: Tenant, person: Person, item_id: str, score: float, reason: str, algorithm: str
) -> _Row:
    verdict = tenant.verdict(person.rule_class, item_id)
    return _Row(item_id, score, reason, algorithm, tenant.items[item_id].category, verdict.caps)


def _judged(
    tenant: Tenant,
    person: Person,
    candidates: Iterable[tuple[str, float, str, str]],
    *,
    adjust: bool = True,
) -> list[_Row]:
    """The candidates (item, score, reason, algorithm) the rules allow the person, best first:
    each score times its boost and nudge (the build's adjusted score), ties to the earlier
    candidate. Without ``adjust``, candidates the build already judged for this person keep
    their scores and order."""
    nudge = tenant.settings["sustainability_nudge"]
    rows = []
    for order, (item_id, score, reason, algorithm) in enumerate(candidates):
        item = tenant.items.get(item_id)
        if item is None or item_id in person.left_out:
            continue
        verdict = tenant.verdict(person.rule_class, item_id)
        if not verdict.allows:
            continue
        if adjust:
            score *= verdict.boost * verdicts.nudge(
                nudge, item.sustainability_score, person.sustainability_average
            )
        row = _Row(item_id, score, reason, algorithm, item.category, verdict.caps)
        rows.append((-score if adjust else 0.0, order, row))
    rows.sort(key=lambda row: row[:2])
    return [row for _, _, row in rows]


def _capped(sources: Sequence[list[_Row]], k: int) -> list[Recommendation]:
    """The first k distinct rows of the sources, in order, that the category caps keep."""
    rows, seen = [], set()
    for source in sources:
        for row in source:
            if row.item_id not in seen:
                seen.add(row.item_id)
                rows.append(row)
    if any(row.counted_by for row in rows):
        kept, _ = caps.keep(
            np.zeros(len(rows), dtype=np.int64),
            pa.array([row.category for row in rows], pa.string()),
            pa.array([list(row.counted_by) for row in rows], _CAPS),
        )
        rows = [row for row, keep in zip(rows, kept.tolist(), strict=True) if keep]
    return [
        Recommendation(rank, row.item_id, row.score, row.reason, row.algorithm)
        for rank, row in enumerate(rows[:k], 1)
    ]


def _looking_at(tenant: Tenant, item_id: str) -> str:
    return f"because you are looking at {tenant.names.get(item_id, item_id)}"


def _neighbours(tenant: Tenant, context: Sequence[str]) -> list[tuple[str, float, str, str]]:
    """Items most often bought with the context items (similarity summed over them), with the
    context item that contributed most as the reason."""
    total: dict[str, float] = {}
    because: dict[str, tuple[float, str]] = {}
    for item in context:
        ids, scores = tenant.similar.get(item, ([], []))
        for other, score in zip(ids, scores, strict=True):
            total[other] = total.get(other, 0.0) + score
            if other not in because or score > because[other][0]:
                because[other] = (score, item)
    return [
        (other, total[other], _looking_at(tenant, because[other][1]), "cooccurrence")
        for other in sorted(total, key=lambda other: (-total[other], other))
    ]


def _folded_in(tenant: Tenant, context: Sequence[str]) -> list[tuple[str, float, str, str]]:
    """The best items for a customer folded into ALS from the context items, with the context
    item closest to each as the reason."""
    factors = tenant.factors
    assert factors is not None
    seen = np.array([factors.index[i] for i in context if i in factors.index], np.int64)
    if seen.size == 0:
        return []
    vector = fold_in(
        factors.matrix64,
        seen,
        alpha=factors.alpha,
        regularization=factors.regularization,
        item_gram=factors.gram,
    )
    # numpy's own loop, not BLAS: a multi-threaded BLAS gemv over every item waits for a
    # free core on a busy server (12 ms instead of 0.1 under load); this is single-threaded
    scores = np.einsum("ij,j->i", factors.matrix, vector)
    scores[seen] = -np.inf
    n = min(FOLD_IN_CANDIDATES, len(scores) - seen.size)
    if n <= 0:
        return []
    top = np.argpartition(-scores, n - 1)[:n]
    top = top[np.lexsort((factors.item_ids[top].astype(str), -scores[top]))]
    closest = seen[np.argmax(factors.matrix[top] @ factors.matrix[seen].T, axis=1)]
    return [
        (factors.item_ids[i], float(scores[i]), _looking_at(tenant, factors.item_ids[c]), "als")
        for i, c in zip(top.tolist(), closest.tolist(), strict=True)
    ]


#: The reason of an item that no source ranks: it keeps its place among the others like it.
AS_GIVEN = "in the order given"


def ranked(
    tenant: Tenant, customer_id: str | None, item_ids: Sequence[str]
) -> list[Recommendation]:
    """The given items (each once, all in the tenant's catalogue) in the order the customer is
    most likely to want them: the Python mirror of the ``rank_items`` macro (serving.sql).

    Whom for: a customer the tenant knows, as the rules see them (nothing for one it withholds
    a discover list from, or who asked to be forgotten); anyone else as a visitor of unknown
    country. Items their verdicts block go (geo, age, ``exclude``, ``include_only``, inactive).
    The others are ranked within each source that knows them — the customer's discover list and
    buy-again list (by rank), their purchases' co-occurrence (similarity summed over what they
    bought; personalized customers only), the tenant's popularity (by rank) — fused by
    reciprocal rank (``1 / (60 + rank)`` summed) and multiplied by their boost; ties, and items
    no source knows (score 0), keep the given order. The reason is that of the item's best
    source.
    """
    customer = tenant.customers.get(customer_id) if customer_id is not None else None
    if customer is not None:
        if customer.withheld_by is not None:
            return []
        rule_class, personalized = customer.rule_class, customer.is_personalized
    elif customer_id is not None and tenant.is_erased(customer_id):
        return []
    else:
        visitor = tenant.visitor(None)
        if visitor.nothing_rule is not None:
            return []
        rule_class, personalized = visitor.rule_class, False
    allowed = [item for item in item_ids if tenant.verdict(rule_class, item).allows]
    wanted = set(allowed)
    # per source: (item, value to sort by descending, reason, algorithm)
    sources: list[list[tuple[str, float, str, str]]] = []
    for shelf in ("recommendations", "buy_again"):
        rows = tenant.lists[shelf].rows(customer_id) if customer_id is not None else []
        sources.append(
            [
                (r["item_id"], -float(r["rank"]), r["reason"], r["algorithm"])
                for r in rows
                if r["item_id"] in wanted
            ]
        )
    summed: dict[str, float] = {}
    if customer_id is not None and customer is not None and personalized:
        for row in tenant.bought.rows(customer_id):
            ids, scores = tenant.similar.get(row["item_id"], ([], []))
            for other, score in zip(ids, scores, strict=True):
                if other in wanted:
                    summed[other] = summed.get(other, 0.0) + score
    sources.append(
        [
            (item, score, "bought with what you bought", "cooccurrence")
            for item, score in summed.items()
        ]
    )
    popular_ranks = {item: rank for rank, (item, _) in enumerate(tenant.popular.get(None, []), 1)}
    sources.append(
        [
            (item, -float(popular_ranks[item]), "popular", "popularity")
            for item in allowed
            if item in popular_ranks
        ]
    )
    fused: dict[str, float] = {}
    best: dict[str, tuple[int, str, str]] = {}
    for order, source in enumerate(sources, 1):
        ordered = sorted(source, key=lambda row: (-row[1], row[0]))
        for rank, (item, _, reason, algorithm) in enumerate(ordered, 1):
            fused[item] = fused.get(item, 0.0) + 1.0 / (RRF_K + rank)
            key = rank * 10 + order
            if item not in best or key < best[item][0]:
                best[item] = (key, reason, algorithm)
    scored = [
        (fused.get(item, 0.0) * tenant.verdict(rule_class, item).boost, position, item)
        for position, item in enumerate(allowed)
    ]
    scored.sort(key=lambda row: (-row[0], row[1]))
    return [
        Recommendation(
            rank,
            item,
            score,
            best[item][1] if item in best else AS_GIVEN,
            best[item][2] if item in best else "none",
        )
        for rank, (score, _, item) in enumerate(scored, 1)
    ]
