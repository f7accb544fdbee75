"""Recommendations at query time from a published recsql database: ``recsql.open(path)``.

The build prebakes every known customer's lists; a :class:`Recommender` serves them from
memory (one dictionary lookup per call) and makes lists at query time when the caller says
what the customer is looking at now (:mod:`recsql.serving.lists`). The answers agree with the
SQL macros of the published file: a customer the tenant does not know gets what
``popular(tenant, country, k)`` gives a visitor from their country, the same ids as
``recommend(tenant, customer, k, country)``; a customer it knows but withholds a list from (no
marketing consent, a ``nothing`` rule, the nothing threshold, erased) gets none.

The database is opened read-only. When a new build replaces the file (an atomic rename), the
next call notices and reopens it: answers switch from one build to the next, never mixed —
each tenant is loaded from one build (:func:`recsql.serving.tenant.load`). A server that wants
no request to wait for that reload opens the new file in a second ``Recommender`` with
``follow_publishes=False``, loads its tenants (:meth:`Recommender.load`) and then switches
(:mod:`recsql.http.served`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

import duckdb

from recsql import sql
from recsql.serving import lists
from recsql.serving.results import Recommendation, Recommendations
from recsql.serving.tenant import RecsqlError, Tenant, load


class TenantInfo(NamedTuple):
    """What a tenant's answers come from: its mode (on, freeze, off) and the version of its
    models serving it (``tenant_status.active_version``; None before its first version)."""

    mode: str
    model_version: str | None


class Recommender:
    """Recommendations from a published recsql database (see :func:`recsql.open`).

    Safe to share between threads: calls that need the database take a lock.

    Parameters
    ----------
    follow_publishes
        Reopen the file on the next call when a build has replaced it (the default). Without
        it, the recommender keeps answering from the build it opened.
    """

    def __init__(self, path: str | os.PathLike[str], *, follow_publishes: bool = True) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(
                f"{self.path} does not exist: build it first (recsql build --db {self.path})"
            )
        self.follow_publishes = follow_publishes
        self._lock = threading.RLock()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._identity: tuple[int, int] | None = None
        self._tenants: dict[str, Tenant] = {}
        self._loading: dict[str, threading.Lock] = {}  # one load of a tenant at a time
        #: The tenants of the open file, and the clock of the build that wrote it.
        self.tenant_ids: frozenset[str] = frozenset()
        self.built_as_of: datetime | None = None
        self._connect()

    # --- connection and tenants --------------------------------------------------------------

    def _connect(self) -> None:
        # A private in-memory database with the file attached read-only: a plain connect() to
        # a path this process already has open would join that open database — the old file
        # after a publish — instead of opening the new one.
        stat = os.stat(self.path)
        con = duckdb.connect()
        try:
            con.execute(f"attach {sql.literal(str(self.path))} as served (read_only)")
            con.execute("use served")
            con.execute("select 1 from recsql_data.rule_class_verdicts limit 0")
        except duckdb.Error as error:
            con.close()
            raise RecsqlError(
                f"{self.path} is not a database published by this version of recsql "
                f"({str(error).splitlines()[0]}); rebuild it with recsql build"
            ) from error
        tenant_ids = frozenset(
            t for (t,) in con.sql("select tenant_id from recsql_data.tenant_settings").fetchall()
        )
        (built,) = con.execute("select max(as_of) from recsql_data.build_info").fetchall()
        if self._con is not None:
            self._con.close()
        self._con, self._identity, self._tenants = con, (stat.st_dev, stat.st_ino), {}
        self.tenant_ids, self.built_as_of = tenant_ids, built[0]

    @property
    def identity(self) -> tuple[int, int] | None:
        """The device and inode of the file open (a publish replaces the inode)."""
        return self._identity

    def _follow(self) -> duckdb.DuckDBPyConnection:
        """The open connection, to the file a new build published if there is one (with
        ``follow_publishes``)."""
        if self.follow_publishes:
            try:
                stat = os.stat(self.path)
            except FileNotFoundError:
                stat = None  # keep serving the file we have open
            if stat is not None and (stat.st_dev, stat.st_ino) != self._identity:
                self._connect()
        if self._con is None:
            raise RecsqlError("this recommender is closed")
        return self._con

    def _tenant(self, tenant_id: str) -> Tenant:
        """The tenant as the served file holds it (the file reopened first if a new build
        replaced it), loaded on first use."""
        con = self._follow()
        tenant = self._tenants.get(tenant_id)
        if tenant is None:
            tenant = self._tenants[tenant_id] = load(con, tenant_id, str(self.path))
        return tenant

    def load(self, tenant_id: str) -> None:
        """Load a tenant into memory now, if it is not yet: without holding up the calls for
        other tenants meanwhile (the load reads through a connection of its own). Callers
        asking for the same tenant at once wait for one load."""
        with self._lock:
            gate = self._loading.setdefault(tenant_id, threading.Lock())
        with gate:
            with self._lock:
                con = self._follow()
                if tenant_id in self._tenants:
                    return
                cursor = con.cursor()
            try:
                cursor.execute("use served")
                tenant = load(cursor, tenant_id, str(self.path))
            finally:
                cursor.close()
            with self._lock:
                if self._con is con:  # not reopened meanwhile: the tenant is of the open build
                    self._tenants.setdefault(tenant_id, tenant)

    def is_loaded(self, tenant_id: str) -> bool:
        return tenant_id in self._tenants

    @property
    def loaded_tenants(self) -> list[str]:
        """The tenants loaded into memory (what a server reloads after a publish)."""
        return list(self._tenants)

    def describe(self, tenant_id: str) -> TenantInfo:
        """The tenant's mode and the model version its answers come from."""
        with self._lock:
            tenant = self._tenant(tenant_id)
            return TenantInfo(tenant.settings["mode"], tenant.model_version)

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
            self._con, self._tenants = None, {}

    def __enter__(self) -> Recommender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
            A customer of the tenant; or one the tenant does not know (or None): then the list
            is made for a visitor from ``country`` — without context, what ``popular()`` gives
            them, as the ``recommend`` macro does.
        context_items
            What the customer is looking at or has in the cart now. The list then blends their
            prebaked list (or, for an unknown customer, ALS folded in from these items) with
            the items most often bought with them; the context items themselves are left out.
            Ids the tenant's catalogue does not hold are ignored and reported in the result's
            ``unknown_context_items``.
        country
            Only for customers the tenant does not know: where the visitor is.
        """
        _check_k(k)
        with self._lock:
            tenant = self._tenant(tenant_id)
            if tenant.settings["mode"] == "off":  # a tenant switched off serves nothing
                return Recommendations()
            asked = list(dict.fromkeys(context_items or ()))
            context = [item for item in asked if item in tenant.items]
            unknown = [item for item in asked if item not in tenant.items]
            customer = tenant.customers.get(customer_id) if customer_id is not None else None
            if customer is not None:
                assert customer_id is not None
                rows = self._for_customer(tenant, customer_id, context, k)
            elif customer_id is not None and tenant.is_erased(customer_id):
                rows = []
            elif not context:
                rows = lists.popular(tenant, country, k)
            else:
                visitor = tenant.visitor(country)
                person = lists.Person(
                    visitor.rule_class, visitor.country, None, frozenset(context),
                    visitor.nothing_rule,
                )  # fmt: skip
                fill = lists.Fill(
                    tenant.visitor_lists.get(tenant.list_country(country), []), is_judged=True
                )
                rows = lists.blend(
                    tenant, person, [], context, k, fold_in_context=True, fills=[fill]
                )
            return Recommendations(rows, unknown_context_items=unknown)

    def _for_customer(
        self, tenant: Tenant, customer_id: str, context: list[str], k: int
    ) -> list[Recommendation]:
        customer = tenant.customers[customer_id]
        prebaked = tenant.lists["recommendations"].recommendations(customer_id, k)
        if customer.withheld_by is not None or not prebaked:
            return []  # withheld, or no list the build would serve (the nothing threshold)
        if not context or not customer.is_personalized:
            return prebaked
        own = tenant.lists["recommendations"].recommendations(customer_id, tenant.settings["k"])
        bought = {row["item_id"] for row in tenant.bought.rows(customer_id)}
        person = lists.Person(
            customer.rule_class,
            customer.country,
            customer.sustainability_average,
            frozenset(bought | set(context)),
        )
        fills = [
            lists.Fill([(item, score, f"popular in {country}") for item, score in listed])
            if country is not None
            else lists.Fill([(item, score, "popular") for item, score in listed])
            for country in dict.fromkeys([customer.country, None])
            if (listed := tenant.popular.get(country))
        ]
        return lists.blend(tenant, person, own, context, k, fold_in_context=False, fills=fills)

    def buy_again(self, tenant_id: str, customer_id: str, k: int = 10) -> Recommendations:
        """Items the customer bought, most likely to be bought again soon first (prebaked)."""
        _check_k(k)
        with self._lock:
            return self._tenant(tenant_id).lists["buy_again"].recommendations(customer_id, k)

    def new_for_you(self, tenant_id: str, customer_id: str, k: int = 10) -> Recommendations:
        """New items (launched in the tenant's last ``new_item_days``, or never bought) most
        like what the customer bought, best first (prebaked)."""
        _check_k(k)
        with self._lock:
            return self._tenant(tenant_id).lists["new_for_you"].recommendations(customer_id, k)

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

    def rank(
        self, tenant_id: str, customer_id: str | None, item_ids: Iterable[str]
    ) -> Recommendations:
        """The given items (a search result, a category page) in the order the customer is
        most likely to want them, as the ``rank_items`` macro orders them
        (:func:`recsql.serving.lists.ranked`): items the rules do not allow the customer are
        left out; ids the tenant's catalogue does not hold too, and are reported in the
        result's ``unknown_context_items``."""
        given = list(dict.fromkeys(item_ids))
        with self._lock:
            tenant = self._tenant(tenant_id)
            unknown = [item for item in given if item not in tenant.items]
            if tenant.settings["mode"] == "off":
                return Recommendations(unknown_context_items=unknown)
            rows = lists.ranked(tenant, customer_id, [i for i in given if i in tenant.items])
            return Recommendations(rows, unknown_context_items=unknown)

    def for_items(self, tenant_id: str, item_ids: Iterable[str], k: int = 10) -> Recommendations:
        """For a cart or a session without a known customer: what the
        ``recommend_for_items(tenant_id, item_ids, k)`` macro gives (run in the open file)."""
        _check_k(k)
        given = list(dict.fromkeys(item_ids))
        with self._lock:
            tenant = self._tenant(tenant_id)
            cursor = self._follow().cursor()
        try:
            cursor.execute("use served")
            if tenant.settings["mode"] == "off":
                return Recommendations()
            rows = cursor.execute(
                "select rank, item_id, score, reason from recommend_for_items(?, ?, ?)",
                [tenant_id, given, k],
            ).fetchall()
        finally:
            cursor.close()
        return Recommendations(
            Recommendation(
                rank, item, score, reason, "popularity" if reason == "popular" else "cooccurrence"
            )
            for rank, item, score, reason in rows
        )

    def popular(self, tenant_id: str, country: str | None = None, k: int = 10) -> Recommendations:
        """The most popular items a visitor from ``country`` may be shown: the ``popular``
        macro's list (the country's, else the tenant's, judged by the rules for the visitor)."""
        _check_k(k)
        with self._lock:
            return lists.popular(self._tenant(tenant_id), country, k)


def _check_k(k: int) -> None:
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive integer, not {k!r}")


__all__ = ["Recommender"]
