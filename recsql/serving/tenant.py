"""One tenant of a published database, loaded into memory for lists made at query time.

:func:`load` reads everything a tenant's requests need — its settings, who it knows and how the
rules treat them, the build's verdicts, the prebaked lists, popular and similar items, the ALS
item factors — through one connection, so one build's rows make the snapshot: a publish while
it loads is seen by the next load, never half of it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import duckdb
import numpy as np
import pyarrow as pa

from recsql.rules.verdicts import NEUTRAL, Verdict, verdict_of
from recsql.serving.results import Recommendation, Recommendations


class RecsqlError(ValueError):
    """A request the published database cannot answer (e.g. an unknown tenant)."""


@dataclass(slots=True)
class KeyedRows:
    """Rows of a table sorted by a key, found by key."""

    offsets: dict[str, tuple[int, int]]
    table: pa.Table

    @classmethod
    def by(cls, table: pa.Table, key: str) -> KeyedRows:
        return cls(spans(table, key), table)

    def rows(self, key: str, limit: int | None = None) -> list[dict[str, Any]]:
        start, stop = self.offsets.get(key, (0, 0))
        n = stop - start if limit is None else min(stop - start, limit)
        rows: list[dict[str, Any]] = self.table.slice(start, n).to_pylist()
        return rows

    def recommendations(self, key: str, k: int) -> Recommendations:
        """The first k rows of a prebaked list."""
        return Recommendations(
            Recommendation(r["rank"], r["item_id"], r["score"], r["reason"], r["algorithm"])
            for r in self.rows(key, k)
        )


def spans(table: pa.Table, key: str) -> dict[str, tuple[int, int]]:
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


class Customer(NamedTuple):
    """A customer the tenant knows, as the rules see them."""

    rule_class: int
    country: str | None
    sustainability_average: float | None
    #: Whether they get personalized lists (personalization consent).
    is_personalized: bool
    #: Why they get no discover list (consent, a `nothing` rule, the tenant is off), or None.
    withheld_by: str | None


class Item(NamedTuple):
    name: str
    category: str | None
    sustainability_score: float | None


class Visitor(NamedTuple):
    """Someone the tenant does not know, from a country (or from nowhere known)."""

    rule_class: int
    country: str | None
    nothing_rule: str | None


@dataclass(slots=True)
class Factors:
    """One tenant's ALS item factors, with what a fold-in needs."""

    item_ids: np.ndarray
    index: dict[str, int]
    matrix: np.ndarray  # float32 (items, factors), for scoring
    matrix64: np.ndarray  # the same in float64, what fold_in solves with
    gram: np.ndarray  # float64 Y^T Y
    alpha: float
    regularization: float


@dataclass(slots=True)
class Tenant:
    """What is kept in memory for a tenant, loaded on its first request."""

    tenant_id: str
    settings: dict[str, Any]
    customers: dict[str, Customer]
    #: The tenant's salt and the salted sha256 of each customer who asked to be forgotten: no
    #: ids (erased_customers).
    erased: tuple[str, frozenset[str]]
    visitors: dict[str | None, Visitor]  # by country (None: unknown)
    verdicts: dict[int, dict[str, Verdict]]  # rule class -> item -> the exceptions
    items: dict[str, Item]  # in item_id order
    bought: KeyedRows  # bought_items, by customer_id
    popular: dict[str | None, list[tuple[str, float]]]  # by country (None: the tenant's)
    #: What popular() serves a visitor from a country: (item, score, reason), by list country.
    visitor_lists: dict[str | None, list[tuple[str, float, str]]]
    #: Countries with a visitor state or a popular list of their own (recsql_list_country).
    list_countries: frozenset[str]
    similar: dict[str, tuple[list[str], list[float]]]
    lists: dict[str, KeyedRows]  # prebaked lists by shelf, by customer_id
    factors: Factors | None
    #: The version of the tenant's models its lists come from (tenant_status.active_version).
    model_version: str | None = None
    names: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.names = {item_id: item.name for item_id, item in self.items.items()}

    def verdict(self, rule_class: int, item_id: str) -> Verdict:
        return self.verdicts.get(rule_class, {}).get(item_id, NEUTRAL)

    def is_erased(self, customer_id: str) -> bool:
        """Whether the customer asked to be forgotten (recsql_is_customer's hash test)."""
        salt, hashes = self.erased
        key = f"{salt}{self.tenant_id}\x1f{customer_id}".encode()
        return bool(hashes) and hashlib.sha256(key).hexdigest() in hashes

    def list_country(self, country: str | None) -> str | None:
        """The country whose visitor list serves someone from ``country`` (None: unknown)."""
        return country if country in self.list_countries else None

    def visitor(self, country: str | None) -> Visitor:
        """The rule state of a visitor from ``country`` (the unknown visitor's where the build
        has none for the country)."""
        return self.visitors.get(country) or self.visitors[None]


def load(con: duckdb.DuckDBPyConnection, tenant_id: str, where: str) -> Tenant:
    """Read one tenant of the published database open on ``con`` (``where`` names it in
    messages)."""

    def query(sql: str) -> pa.Table:
        return con.sql(sql, params=[tenant_id]).to_arrow_table()

    settings = query("select * from recsql_data.tenant_settings where tenant_id = ?").to_pylist()
    if not settings:
        known = con.sql("select tenant_id from recsql_data.tenant_settings limit 5").fetchall()
        raise RecsqlError(
            f"unknown tenant {tenant_id!r} in {where} (tenants include: "
            f"{', '.join(t for (t,) in known) or 'none'})"
        )
    states = query(
        "select s.customer_id, s.is_visitor, s.country, s.rule_class, s.nothing_rule, "
        "s.sustainability_average, d.is_personalized, "
        "case when d.customer_id is null then 'tenant off' else d.withheld_by end as withheld_by "
        "from recsql_data.customer_rule_states as s "
        "left join recsql_data.customer_shelves as d on d.tenant_id = s.tenant_id "
        "and d.customer_id = s.customer_id and d.shelf = 'discover' "
        "where s.tenant_id = ?"
    ).to_pylist()
    customers = {
        row["customer_id"]: Customer(
            row["rule_class"],
            row["country"],
            row["sustainability_average"],
            bool(row["is_personalized"]),
            row["withheld_by"],
        )
        for row in states
        if not row["is_visitor"]
    }
    visitors = {
        row["country"]: Visitor(row["rule_class"], row["country"], row["nothing_rule"])
        for row in states
        if row["is_visitor"]
    }
    class_verdicts: dict[int, dict[str, Verdict]] = {}
    for row in query(
        "select rule_class, item_id, blocked_by, not_included_by, boost, caps "
        "from recsql_data.rule_class_verdicts where tenant_id = ?"
    ).to_pylist():
        class_verdicts.setdefault(row["rule_class"], {})[row["item_id"]] = verdict_of(row)
    items = {
        row["item_id"]: Item(row["name"] or row["item_id"], row["category"], row["score"])
        for row in query(
            "select item_id, name, category, sustainability_score as score "
            "from recsql_data.item_rule_states where tenant_id = ? order by item_id"
        ).to_pylist()
    }
    popular: dict[str | None, list[tuple[str, float]]] = {}
    for row in query(
        "select country, item_id, score from recsql_data.popular_items "
        "where tenant_id = ? order by country, rank"
    ).to_pylist():
        popular.setdefault(row["country"], []).append((row["item_id"], row["score"]))
    visitor_lists: dict[str | None, list[tuple[str, float, str]]] = {}
    for row in query(
        "select country, item_id, score, reason from recsql_data.visitor_popular_items "
        "where tenant_id = ? order by country, rank"
    ).to_pylist():
        visitor_lists.setdefault(row["country"], []).append(
            (row["item_id"], row["score"], row["reason"])
        )
    similar = query(
        "select item_id, similar_item_id, score from recsql_data.similar_items "
        "where tenant_id = ? order by item_id, rank"
    )
    similar_ids = similar.column("similar_item_id").to_pylist()
    similar_scores = similar.column("score").to_pylist()
    lists = {
        shelf: KeyedRows.by(
            query(
                "select rank, item_id, score, reason, algorithm, customer_id "
                f"from recsql_data.{shelf} where tenant_id = ? order by customer_id, rank"
            ),
            "customer_id",
        )
        for shelf in ("recommendations", "buy_again", "new_for_you")
    }
    erasures = query(
        "select salt, customer_hash from recsql_data.erased_customers where tenant_id = ?"
    ).to_pydict()
    erased = (
        erasures["salt"][0] if erasures["salt"] else "",
        frozenset(erasures["customer_hash"]),
    )
    status = query("select active_version from recsql_data.tenant_status where tenant_id = ?")
    return Tenant(
        tenant_id=tenant_id,
        settings=settings[0],
        model_version=status.column(0)[0].as_py() if status.num_rows else None,
        customers=customers,
        erased=erased,
        visitors=visitors,
        verdicts=class_verdicts,
        items=items,
        bought=KeyedRows.by(
            query(
                "select customer_id, item_id from recsql_data.bought_items "
                "where tenant_id = ? order by customer_id"
            ),
            "customer_id",
        ),
        popular=popular,
        visitor_lists=visitor_lists,
        list_countries=frozenset(
            country for country in (*visitors, *popular) if country is not None
        ),
        similar={
            item: (similar_ids[start:stop], similar_scores[start:stop])
            for item, (start, stop) in spans(similar, "item_id").items()
        },
        lists=lists,
        factors=_factors(
            query(
                "select item_id, factors from recsql_data.item_factors where tenant_id = ? "
                "order by item_id"
            ),
            settings[0],
        ),
    )


def _factors(table: pa.Table, settings: dict[str, Any]) -> Factors | None:
    if table.num_rows == 0:
        return None
    width = int(settings["als_factors"])
    flat = table.column("factors").combine_chunks().flatten().to_numpy()
    matrix = np.ascontiguousarray(flat.reshape(table.num_rows, -1)[:, :width])
    item_ids = np.asarray(table.column("item_id").to_pylist(), dtype=object)
    matrix64 = matrix.astype(np.float64)
    return Factors(
        item_ids=item_ids,
        index={item: i for i, item in enumerate(item_ids)},
        matrix=matrix,
        matrix64=matrix64,
        gram=matrix64.T @ matrix64,
        alpha=float(settings["als_alpha"]),
        regularization=float(settings["als_regularization"]),
    )


__all__: Sequence[str] = [
    "Customer",
    "Factors",
    "Item",
    "KeyedRows",
    "RecsqlError",
    "Tenant",
    "Visitor",
    "load",
]
