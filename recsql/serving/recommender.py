"""Recommendations at query time from a published recsql database: ``recsql.open(path)``.

The build prebakes every known customer's lists; this module serves them from memory (one
dictionary lookup per call) and, when the caller says what the customer is looking at now
(``context_items``), blends the prebaked list with the neighbours of those items — or, for a
customer the build never saw, folds them into the ALS model from those items (one least
squares solve against the published item factors, :func:`recsql.engine.algorithms.als.fold_in`).

Every list made at query time obeys the business rules as the build decided them: who and
what each rule matches is read from the states the build stored
(``recsql_data.customer_rule_states``, ``item_rule_states``) — no condition is evaluated again —
and the verdicts are the rule macros' (:mod:`recsql.rules.verdicts` states them case for case,
and a test holds the two together); category caps are walked by the build's own
:func:`recsql.rules.caps.keep`. A customer the build withheld (consent, a ``nothing`` rule, the
threshold) gets an empty list; one without personalization consent gets their
non-personalized list whatever the context.

The database is opened read-only. When a new build replaces the file (an atomic rename), the
next call notices and reopens it: answers switch from one build to the next, never mixed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from recsql import sql
from recsql.engine.algorithms.als import fold_in
from recsql.rules import caps, verdicts

#: Reciprocal rank fusion constant: a candidate at rank r of a source adds 1 / (RRF_K + r).
RRF_K = 60
_CAPS = pa.list_(pa.struct([("rule_key", pa.string()), ("cap", pa.int32())]))
#: How many items a folded-in customer's ALS scores contribute to the blend.
FOLD_IN_CANDIDATES = 50


@dataclass(frozen=True, slots=True)
class Recommendation:
    """One row of a list: rank (from 1), item, score (higher is better), why, and which
    algorithm put it there."""

    rank: int
    item_id: str
    score: float
    reason: str
    algorithm: str


_SCHEMA = pa.schema(
    [
        ("rank", pa.int64()),
        ("item_id", pa.string()),
        ("score", pa.float64()),
        ("reason", pa.string()),
        ("algorithm", pa.string()),
    ]
)


class Recommendations(list[Recommendation]):
    """A list of :class:`Recommendation`, best first, with Arrow and pandas forms."""

    def to_arrow(self) -> pa.Table:
        columns = zip(*(astuple(r) for r in self), strict=True) if self else [[]] * 5
        return pa.table(list(map(list, columns)), schema=_SCHEMA)

    def to_pandas(self) -> Any:
        """A pandas DataFrame (needs pandas, which recsql does not install)."""
        try:
            return self.to_arrow().to_pandas()
        except ModuleNotFoundError as error:  # pragma: no cover - depends on the environment
            raise ModuleNotFoundError(
                "to_pandas() needs pandas: pip install pandas (or use to_arrow())"
            ) from error


@dataclass(slots=True)
class _Rows:
    """Rows of a table sorted by a key, found by key."""

    offsets: dict[str, tuple[int, int]]
    table: pa.Table

    @classmethod
    def by(cls, table: pa.Table, key: str) -> _Rows:
        return cls(_first_rows(table, key), table)

    def rows(self, key: str, limit: int | None = None) -> list[dict[str, Any]]:
        start, stop = self.offsets.get(key, (0, 0))
        n = stop - start if limit is None else min(stop - start, limit)
        return self.table.slice(start, n).to_pylist()

    def recommendations(self, key: str, k: int) -> Recommendations:
        """The first k rows of a prebaked list."""
        return Recommendations(
            Recommendation(r["rank"], r["item_id"], r["score"], r["reason"], r["algorithm"])
            for r in self.rows(key, k)
        )


@dataclass(slots=True)
class _Factors:
    """One tenant's ALS item factors, with what a fold-in needs."""

    item_ids: np.ndarray
    index: dict[str, int]
    matrix: np.ndarray  # float32 (items, factors), for scoring
    matrix64: np.ndarray  # the same in float64, what fold_in solves with
    gram: np.ndarray  # float64 Y^T Y
    alpha: float
    regularization: float


@dataclass(slots=True)
class _Tenant:
    """What is kept in memory for a tenant, loaded on its first request."""

    settings: dict[str, Any]
    customers: dict[str, tuple[bool, str | None]]  # discover: (is_personalized, withheld_by)
    people: _Rows  # customer_rule_states of the customers, by customer_id
    visitors: dict[str | None, verdicts.PersonState]  # by country (None: unknown)
    items: dict[str, verdicts.ItemState]  # in item_id order
    names: dict[str, str]
    bought: _Rows  # bought_items, by customer_id
    popular: dict[str | None, list[tuple[str, float]]]  # by country (None: the tenant's)
    similar: dict[str, tuple[list[str], list[float]]]
    lists: dict[str, _Rows]  # prebaked lists by shelf, by customer_id
    factors: _Factors | None

    def person(self, customer_id: str) -> verdicts.PersonState:
        return verdicts.PersonState.of(self.people.rows(customer_id)[0])

    def visitor(self, country: str | None) -> verdicts.PersonState:
        return self.visitors.get(country) or self.visitors[None]


class RecsqlError(ValueError):
    """A request the published database cannot answer (e.g. an unknown tenant)."""


def _first_rows(table: pa.Table, key: str) -> dict[str, tuple[int, int]]:
    """Row span of each value of ``key`` in ``table`` (sorted by it)."""
    values = table.column(key).to_numpy(zero_copy_only=False)
    if len(values) == 0:
        return {}
    starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
    stops = np.r_[starts[1:], len(values)]
    return {
        values[start]: (int(start), int(stop))
        for start, stop in zip(starts.tolist(), stops.tolist(), strict=True)
    }


class Recommender:
    """Recommendations from a published recsql database (see :func:`open`).

    Safe to share between threads: calls that need the database take a lock.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(
                f"{self.path} does not exist: build it first (recsql build --db {self.path})"
            )
        self._lock = threading.RLock()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._identity: tuple[int, int] | None = None
        self._tenants: dict[str, _Tenant] = {}
        self._connect()

    # --- connection and caches -------------------------------------------------------------

    def _connect(self) -> None:
        # A private in-memory database with the file attached read-only: a plain connect() to
        # a path this process already has open would join that open database — the old file
        # after a publish — instead of opening the new one.
        stat = os.stat(self.path)
        con = duckdb.connect()
        try:
            con.execute(f"attach {sql.literal(str(self.path))} as served (read_only)")
            con.execute("use served")
            con.execute("select 1 from recsql_data.customer_rule_states limit 0")
        except duckdb.Error as error:
            con.close()
            raise RecsqlError(
                f"{self.path} is not a database published by this version of recsql "
                f"({str(error).splitlines()[0]}); rebuild it with recsql build"
            ) from error
        if self._con is not None:
            self._con.close()
        self._con, self._identity, self._tenants = con, (stat.st_dev, stat.st_ino), {}

    def _fresh(self) -> duckdb.DuckDBPyConnection:
        """The connection, reopened first if a new build has replaced the file."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            stat = None  # keep serving the file we have open
        if stat is not None and (stat.st_dev, stat.st_ino) != self._identity:
            self._connect()
        if self._con is None:
            raise RecsqlError("this recommender is closed")
        return self._con

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
            self._con, self._tenants = None, {}

    def __enter__(self) -> Recommender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _query(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> pa.Table:
        return self._fresh().sql(sql, params=parameters).to_arrow_table()

    def _tenant(self, tenant_id: str) -> _Tenant:
        self._fresh()
        tenant = self._tenants.get(tenant_id)
        if tenant is None:
            tenant = self._tenants[tenant_id] = self._load(tenant_id)
        return tenant

    def _load(self, tenant_id: str) -> _Tenant:
        settings = self._query(
            "select * from recsql_data.tenant_settings where tenant_id = ?", [tenant_id]
        ).to_pylist()
        if not settings:
            known = self._query("select tenant_id from recsql_data.tenant_settings limit 5")
            raise RecsqlError(
                f"unknown tenant {tenant_id!r} in {self.path} (tenants include: "
                f"{', '.join(known.column(0).to_pylist()) or 'none'})"
            )
        shelves = self._query(
            "select customer_id, is_personalized, withheld_by from recsql_data.customer_shelves "
            "where tenant_id = ? and shelf = 'discover'",
            [tenant_id],
        ).to_pydict()
        customers = {
            c: (p, w)
            for c, p, w in zip(
                shelves["customer_id"], shelves["is_personalized"], shelves["withheld_by"],
                strict=True,
            )
        }  # fmt: skip
        states = self._query(
            "select * from recsql_data.customer_rule_states where tenant_id = ? "
            "order by customer_id",
            [tenant_id],
        )
        visitors = states.filter(states.column("is_visitor"))
        people = states.filter(pa.compute.invert(states.column("is_visitor")))
        items = self._query(
            "select * from recsql_data.item_rule_states where tenant_id = ? order by item_id",
            [tenant_id],
        ).to_pylist()
        bought = self._query(
            "select customer_id, item_id from recsql_data.bought_items where tenant_id = ? "
            "order by customer_id",
            [tenant_id],
        )
        popular: dict[str | None, list[tuple[str, float]]] = {}
        for row in self._query(
            "select country, item_id, score from recsql_data.popular_items "
            "where tenant_id = ? order by country, rank",
            [tenant_id],
        ).to_pylist():
            popular.setdefault(row["country"], []).append((row["item_id"], row["score"]))
        similar = self._query(
            "select item_id, similar_item_id, score from recsql_data.similar_items "
            "where tenant_id = ? order by item_id, rank",
            [tenant_id],
        )
        similar_ids = similar.column("similar_item_id").to_pylist()
        similar_scores = similar.column("score").to_pylist()
        lists = {}
        for shelf in ("recommendations", "buy_again"):
            table = self._query(
                "select rank, item_id, score, reason, algorithm, customer_id "
                f"from recsql_data.{shelf} where tenant_id = ? order by customer_id, rank",
                [tenant_id],
            )
            lists[shelf] = _Rows.by(table, "customer_id")
        return _Tenant(
            settings=settings[0],
            customers=customers,
            people=_Rows.by(people, "customer_id"),
            visitors={row["country"]: verdicts.PersonState.of(row) for row in visitors.to_pylist()},
            items={row["item_id"]: verdicts.ItemState.of(row) for row in items},
            names={row["item_id"]: row["name"] or row["item_id"] for row in items},
            bought=_Rows.by(bought, "customer_id"),
            popular=popular,
            similar={
                item: (similar_ids[start:stop], similar_scores[start:stop])
                for item, (start, stop) in _first_rows(similar, "item_id").items()
            },
            lists=lists,
            factors=self._load_factors(tenant_id, settings[0]),
        )

    def _load_factors(self, tenant_id: str, settings: dict[str, Any]) -> _Factors | None:
        table = self._query(
            "select item_id, factors from recsql_data.item_factors where tenant_id = ? "
            "order by item_id",
            [tenant_id],
        )
        if table.num_rows == 0:
            return None
        width = int(settings["als_factors"])
        flat = table.column("factors").combine_chunks().flatten().to_numpy()
        matrix = np.ascontiguousarray(flat.reshape(table.num_rows, -1)[:, :width])
        item_ids = np.asarray(table.column("item_id").to_pylist(), dtype=object)
        matrix64 = matrix.astype(np.float64)
        return _Factors(
            item_ids=item_ids,
            index={item: i for i, item in enumerate(item_ids)},
            matrix=matrix,
            matrix64=matrix64,
            gram=matrix64.T @ matrix64,
            alpha=float(settings["als_alpha"]),
            regularization=float(settings["als_regularization"]),
        )

    # --- the calls --------------------------------------------------------------------------

    def recommend(
        self,
        tenant_id: str,
        customer_id: str | None,
        k: int = 10,
        context_items: Iterable[str] | None = None,
        country: str | None = None,
    ) -> Recommendations:
        """The customer's discover list (items they have not bought), best first.

        Parameters
        ----------
        customer_id
            A customer of the tenant, or one the build has never seen (or None): then the list
            is made for a visitor from ``country`` (NULL/unknown: the most careful rules).
        context_items
            What the customer is looking at or has in the cart now. The list then blends their
            prebaked list (or, for an unknown customer, ALS folded in from these items) with
            the items most often bought with them; the context items themselves are left out.
        country
            Only for customers the build does not know: where the visitor is.
        """
        _check_k(k)
        context = list(dict.fromkeys(context_items or ()))
        with self._lock:
            tenant = self._tenant(tenant_id)
            known = customer_id is not None and customer_id in tenant.customers
            prebaked = (
                tenant.lists["recommendations"].recommendations(customer_id, k)
                if customer_id is not None
                else Recommendations()
            )
            if known:
                personalized, withheld_by = tenant.customers[customer_id]
                if withheld_by is not None or not prebaked:
                    # withheld, or no list the build would serve (the nothing threshold)
                    return Recommendations()
                if not context or not personalized:
                    return prebaked
                own = tenant.lists["recommendations"].recommendations(
                    customer_id, tenant.settings["k"]
                )
                bought = {row["item_id"] for row in tenant.bought.rows(customer_id)}
                person = tenant.person(customer_id)
                return self._blend(tenant, person, bought, own, context, k, fold_in=False)
            return self._blend(tenant, tenant.visitor(country), set(), [], context, k)

    def buy_again(self, tenant_id: str, customer_id: str, k: int = 10) -> Recommendations:
        """Items the customer bought, most likely to be bought again soon first (prebaked)."""
        _check_k(k)
        with self._lock:
            return self._tenant(tenant_id).lists["buy_again"].recommendations(customer_id, k)

    def similar(self, tenant_id: str, item_id: str, k: int = 10) -> Recommendations:
        """The active items most often bought with ``item_id`` (the similar_items view)."""
        _check_k(k)
        with self._lock:
            tenant = self._tenant(tenant_id)
            ids, scores = tenant.similar.get(item_id, ([], []))
            name = tenant.names.get(item_id, item_id)
            return Recommendations(
                Recommendation(rank, item, score, f"bought with {name}", "cooccurrence")
                for rank, (item, score) in enumerate(zip(ids[:k], scores[:k], strict=True), 1)
            )

    def popular(self, tenant_id: str, country: str | None = None, k: int = 10) -> Recommendations:
        """The most popular items a visitor from ``country`` may be shown: the country's list
        (else the tenant's), judged by the rules for that visitor (like the popular macro)."""
        _check_k(k)
        with self._lock:
            tenant = self._tenant(tenant_id)
            listed = tenant.popular.get(country) or tenant.popular.get(None, [])
            reason = f"popular in {country}" if country in tenant.popular else "popular"
            candidates = [(item, score, 1, reason, "popularity") for item, score in listed]
            return self._finish(
                tenant, tenant.visitor(country), set(), candidates, k, fill_with_any=False
            )

    # --- lists made at query time -------------------------------------------------------------

    def _blend(
        self,
        tenant: _Tenant,
        person: verdicts.PersonState,
        bought: set[str],
        own: Sequence[Recommendation],
        context: list[str],
        k: int,
        fold_in: bool = True,
    ) -> Recommendations:
        """Fuse the sources by reciprocal rank, then popular items as a fill; judge by the
        rules, walk the caps, take k."""
        fused: dict[str, float] = {}
        best: dict[str, tuple[int, str, str]] = {}  # item -> (rank in its best source, ...)

        def add(items: Sequence[str], reasons: Sequence[str], algorithms: Sequence[str]) -> None:
            for rank, (item, reason, algorithm) in enumerate(
                zip(items, reasons, algorithms, strict=True), 1
            ):
                fused[item] = fused.get(item, 0.0) + 1.0 / (RRF_K + rank)
                if item not in best or rank < best[item][0]:
                    best[item] = (rank, reason, algorithm)

        add([r.item_id for r in own], [r.reason for r in own], [r.algorithm for r in own])
        neighbours, because = self._neighbours(tenant, context)
        add(
            neighbours,
            [self._looking_at(tenant, because[i]) for i in neighbours],
            ["cooccurrence"] * len(neighbours),
        )
        if fold_in and tenant.factors is not None:
            items, reasons = self._folded_in(tenant, context)
            add(items, reasons, ["als"] * len(items))
        for item in context:
            fused.pop(item, None)
        candidates = [
            (item, fused[item], 1, best[item][1], best[item][2])
            for item in sorted(fused, key=lambda item: (-fused[item], item))
        ]
        for country in dict.fromkeys([person.country, None]):
            reason = "popular" if country is None else f"popular in {country}"
            candidates += [
                (item, score, 2, reason, "popularity")
                for item, score in tenant.popular.get(country, [])
            ]
        return self._finish(tenant, person, bought | set(context), candidates, k)

    def _finish(
        self,
        tenant: _Tenant,
        person: verdicts.PersonState,
        left_out: set[str],
        candidates: list[tuple[str, float, int, str, str]],
        k: int,
        fill_with_any: bool = True,
    ) -> Recommendations:
        """The first k of ``candidates`` (item, score, source order, reason, algorithm) that
        the rules allow ``person``, in list order, after the caps; if fewer than k and
        ``fill_with_any``, every other item of the tenant is judged as a last fill. Items in
        ``left_out`` are never listed."""
        if person.nothing_rule is not None:
            return Recommendations()
        rows = self._capped(self._judged(tenant, person, left_out, candidates), k)
        if len(rows) < k and fill_with_any:
            rest = [(i, 0.0, 3, "popular", "popularity") for i in tenant.items]  # in id order
            rows = self._capped(self._judged(tenant, person, left_out, candidates + rest), k)
        return Recommendations(
            Recommendation(rank, r["item_id"], r["score"], r["reason"], r["algorithm"])
            for rank, r in enumerate(rows, 1)
        )

    @staticmethod
    def _judged(
        tenant: _Tenant,
        person: verdicts.PersonState,
        left_out: set[str],
        candidates: list[tuple[str, float, int, str, str]],
    ) -> list[dict[str, Any]]:
        """The allowed candidates with their adjusted scores, in list order: by source, then
        score after boosts and nudge (as int_lists_ordered orders the build's lists)."""
        nudge = tenant.settings["sustainability_nudge"]
        rows, seen = [], set(left_out)
        for item_id, score, order, reason, algorithm in candidates:
            item = tenant.items.get(item_id)
            if item is None or item_id in seen:
                continue
            seen.add(item_id)
            if verdicts.blocked_by(person, item) or verdicts.not_included_by(person, item):
                continue
            rows.append(
                {
                    "item_id": item_id,
                    "score": score
                    * verdicts.boost(person, item)
                    * verdicts.nudge(person, item, nudge),
                    "order": order,
                    "reason": reason,
                    "algorithm": algorithm,
                    "category": item.category,
                    "caps": verdicts.caps_counting(person, item),
                }
            )
        rows.sort(key=lambda r: (r["order"], -r["score"], r["item_id"]))
        return rows

    @staticmethod
    def _capped(rows: list[dict[str, Any]], k: int) -> list[dict[str, Any]]:
        """The first k rows the category caps keep (recsql.rules.caps, as in the build)."""
        if not any(r["caps"] for r in rows):
            return rows[:k]
        kept, _ = caps.keep(
            np.zeros(len(rows), dtype=np.int64),
            pa.array([r["category"] for r in rows], pa.string()),
            pa.array([r["caps"] for r in rows], _CAPS),
        )
        return [row for row, keep in zip(rows, kept.tolist(), strict=True) if keep][:k]

    @staticmethod
    def _looking_at(tenant: _Tenant, item_id: str) -> str:
        return f"because you are looking at {tenant.names.get(item_id, item_id)}"

    @staticmethod
    def _neighbours(tenant: _Tenant, context: list[str]) -> tuple[list[str], dict[str, str]]:
        """Items most often bought with the context items (similarity summed over them), and
        for each the context item that contributed most."""
        total: dict[str, float] = {}
        because: dict[str, tuple[float, str]] = {}
        for item in context:
            ids, scores = tenant.similar.get(item, ([], []))
            for other, score in zip(ids, scores, strict=True):
                total[other] = total.get(other, 0.0) + score
                if other not in because or score > because[other][0]:
                    because[other] = (score, item)
        ranked = sorted(total, key=lambda other: (-total[other], other))
        return ranked, {other: because[other][1] for other in ranked}

    def _folded_in(self, tenant: _Tenant, context: list[str]) -> tuple[list[str], list[str]]:
        """The best items for a customer folded into ALS from the context items, with the
        context item closest to each as the reason."""
        factors = tenant.factors
        assert factors is not None
        seen = np.array([factors.index[i] for i in context if i in factors.index], np.int64)
        if seen.size == 0:
            return [], []
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
            return [], []
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.lexsort((factors.item_ids[top].astype(str), -scores[top]))]
        closest = seen[np.argmax(factors.matrix[top] @ factors.matrix[seen].T, axis=1)]
        return (
            factors.item_ids[top].tolist(),
            [self._looking_at(tenant, factors.item_ids[i]) for i in closest],
        )


def _check_k(k: int) -> None:
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive integer, not {k!r}")


__all__ = ["Recommendation", "Recommendations", "Recommender", "RecsqlError"]
