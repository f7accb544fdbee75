"""Synthetic input data: contract-conforming files with planted structure and planted bad rows.

:func:`generate` writes one file per input table of :mod:`recsql.contract` (``<table>.parquet``
or ``<table>.csv``), a report ``_generation.json`` and the ground truth of the planted customer
structure ``_planted_customers.<ext>``. It is vectorised over all tenants at once, so a
1,000-tenant benchmark data set takes seconds, and deterministic: the same arguments give
byte-identical files.

Sizes
    ``customers``, ``items`` and ``interactions`` are per tenant. With more than one tenant each
    tenant is scaled by its own factor drawn from [0.5, 1.5] (a single tenant gets exactly the
    sizes asked for). Tenants are ``t0001``, ``t0002``, ...; items ``i00001``, customers
    ``c000001`` and sessions ``s0000001`` are numbered per tenant, so the id spaces of tenants
    overlap on purpose: a query that forgets ``tenant_id`` mixes tenants and tests notice.
    The number of good interaction rows per tenant is close to, not exactly, the target
    (repeat purchases that would fall after the end of the window are not generated, and the
    rare exact duplicates are removed).

Catalogue
    Each tenant sells 10-20 of the categories in :data:`CATEGORIES`, always ``alcohol``
    (``min_age`` 18; ``tobacco`` too when present, every other category has no age limit).
    Categories differ in size and popularity; within a category item popularity is Zipf-like
    (the r-th most popular item is drawn with probability about 1/r), so a tenth of the items
    gets well over a third of the events. Prices follow the category's base price (log-normal
    spread); about 3% of items are inactive; ``sustainability_score`` is Beta(2, 2).

Customers
    Countries are skewed: each tenant has 5-10 countries, the first (main) one holds about 60%
    of its customers and the rest a decreasing tail. About 4% of customers are under 18 on
    ``end_date``. Each customer belongs to one of 4-8 segments of the tenant, and each segment
    prefers 1-3 categories: about 75% of a customer's sessions browse a preferred category and
    about 85% of the events of a session stay in the session's category, so roughly 70% of a
    segment's events (purchases included) fall into its preferred categories. The truth (segment,
    preferred categories, repeat interval) is in ``_planted_customers``. How active a customer
    is follows a Pareto distribution (heavy tail; some customers have no events at all).

Interactions
    Events come in sessions of a customer (geometric length, mean about 3, seconds to minutes
    apart, one ``session_id``), spread over ``days`` days ending on ``end_date`` (the last
    timestamp is at most ``end_date`` 23:59:59 UTC, written without an offset). The day follows
    a weekly pattern (Saturday busiest, Tuesday quietest) and a yearly one (December busiest,
    June quietest); the seasonal categories ``sports`` (January), ``garden`` (May), ``outdoor``
    (July) and ``toys`` (December) peak strongly in their season. Time of day peaks around noon
    and in the evening. The event type mix is about 49% view, 24% click, 14% cart, 11-12%
    purchase and 1.5% return. About 1% of sessions are guest sessions (empty ``customer_id``
    with a ``session_id``, which the contract accepts). Repeat purchases: customers re-buy
    items of consumable categories (groceries, drugstore, pet food ...) every ``interval`` days
    (their personal interval, 4-120 days, median 21, with some jitter), about 4% of the rows.
    Returns (about 1.5% of rows) refer to an earlier purchase of the same customer and item,
    1 to 30 days later, with the same quantity and value. ``value`` is price x quantity on
    purchases and returns and empty otherwise; ``quantity`` is 1 on views and clicks.

Other tables
    ``tenants`` lists every tenant (mode ``on``, k 10 for most, algorithm ``auto``,
    half-life 14-90 days); ``customer_flags`` flags about 2% of customers ``no_alcohol`` and 1%
    ``vulnerable``; ``item_restrictions`` forbids one category of each tenant in 1-2 of its
    non-main countries plus 3 single items in one country each (``allowed`` false); ``consents``
    has one row per customer (about 4% without personalization, 8% without marketing) and, for
    about 2%, an older row with the opposite personalization choice (the latest row applies);
    ``erasure_requests`` holds 0.3% of each tenant's customers (at least one), requested
    in the last 30 days.

Bad rows
    ``bad_share`` is the fraction of bad rows in interactions, items and customers, spread
    evenly over the kinds of :data:`INTERACTION_DEFECTS`, :data:`ITEM_DEFECTS` and
    :data:`CUSTOMER_DEFECTS` (at least one of each kind when ``bad_share`` > 0). Each bad row is
    a copy of a good row with exactly one defect, inserted at a random place among its tenant's
    rows, so its quarantine reason is known; the counts are in
    :attr:`GenerationReport.planted`. (A row with an empty or unknown tenant necessarily also
    refers to an item that tenant does not have: the tenant checks come first.) Bad rows never
    replace or shadow good ones: a bad item or customer with an unparseable value gets a fresh
    id that nothing refers to, and a duplicate's original stays. With ``bad_share`` > 0 the
    typed columns of these three tables are written as text (so that ``'cheap'`` fits in a
    price); otherwise, and always in the other tables, parquet columns have their real types.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from recsql.contract import DEFAULT_TENANT, EVENT_TYPES, TABLES, Reason, unparseable

logger = logging.getLogger(__name__)

Format = Literal["parquet", "csv"]
#: A table under construction: column name -> one numpy array per column, all of equal length.
Columns = dict[str, np.ndarray]


@dataclass(frozen=True)
class CategorySpec:
    """A category the generator can give a tenant."""

    name: str
    base_price: float
    min_age: int | None = None
    #: Day of the year on which a seasonal category peaks; ``None``: not seasonal.
    peak_day_of_year: int | None = None
    #: Bought again and again (repeat purchases are planted only here).
    consumable: bool = False


#: The category pool. Every tenant gets ``alcohol`` (always its local category 0) and 9-19 more.
CATEGORIES: tuple[CategorySpec, ...] = (
    CategorySpec("alcohol", 14.0, min_age=18, consumable=True),
    CategorySpec("tobacco", 9.0, min_age=18, consumable=True),
    CategorySpec("beverages", 2.5, consumable=True),
    CategorySpec("snacks", 3.0, consumable=True),
    CategorySpec("dairy", 2.0, consumable=True),
    CategorySpec("bakery", 2.5, consumable=True),
    CategorySpec("produce", 2.0, consumable=True),
    CategorySpec("frozen", 4.5, consumable=True),
    CategorySpec("coffee", 8.0, consumable=True),
    CategorySpec("pet food", 18.0, consumable=True),
    CategorySpec("baby care", 12.0, consumable=True),
    CategorySpec("personal care", 6.0, consumable=True),
    CategorySpec("household", 5.0, consumable=True),
    CategorySpec("beauty", 19.0),
    CategorySpec("kitchen", 25.0),
    CategorySpec("electronics", 90.0),
    CategorySpec("books", 15.0),
    CategorySpec("clothing", 35.0),
    CategorySpec("shoes", 60.0),
    CategorySpec("stationery", 6.0),
    CategorySpec("sports", 40.0, peak_day_of_year=15),
    CategorySpec("garden", 30.0, peak_day_of_year=135),
    CategorySpec("outdoor", 45.0, peak_day_of_year=195),
    CategorySpec("toys", 25.0, peak_day_of_year=350),
)
COUNTRIES = ("DE", "NL", "BE", "FR", "AT", "CH", "PL", "DK", "SE", "IT", "ES", "GB")
BRANDS = (
    "Acme", "Borealis", "Cobalt", "Dunmore", "Evergreen", "Fjord", "Granite", "Halcyon",
    "Ironwood", "Juniper", "Kestrel", "Lumen", "Meridian", "Northwind", "Orchard", "Pioneer",
)  # fmt: skip
ADJECTIVES = (
    "Classic", "Fresh", "Premium", "Everyday", "Organic", "Deluxe", "Basic", "Select",
    "Original", "Pure", "Smart", "Family",
)  # fmt: skip
FLAGS = {"no_alcohol": 0.02, "vulnerable": 0.01}

MIN_CATEGORIES, MAX_CATEGORIES = 10, 20
MIN_SEGMENTS, MAX_SEGMENTS = 4, 8
MAX_PREFERRED = 3
MIN_COUNTRIES, MAX_COUNTRIES = 5, 10
MAIN_COUNTRY_SHARE = 0.6
PREFERRED_SESSION_SHARE = 0.75
SESSION_STICKINESS = 0.85
SESSION_STOP = 0.3  # geometric session length, mean 1 / 0.3
MAX_SESSION_EVENTS = 30
#: Cap of the Pareto(1.5) activity weight of a customer (the median weight is about 1.6).
MAX_ACTIVITY = 60.0
MEAN_GAP_SECONDS = 90.0
GUEST_SESSION_SHARE = 0.01
#: Event type mix inside sessions (view, click, cart, purchase); repeats and returns come on top.
SESSION_EVENT_MIX = (0.52, 0.25, 0.15, 0.08)
REPEAT_SHARE = 0.04
REPEAT_SEED_SHARE = 0.5
MAX_REPEATS = 8
RETURN_SHARE = 0.015
INACTIVE_SHARE = 0.03
MINOR_SHARE = 0.04
NO_PERSONALIZATION_SHARE = 0.04
NO_MARKETING_SHARE = 0.08
CONSENT_CHANGE_SHARE = 0.02
ERASURE_SHARE = 0.003
RESTRICTED_ITEMS_PER_TENANT = 3
#: Monday .. Sunday.
WEEKDAY_WEIGHTS = (0.95, 0.85, 0.9, 0.95, 1.1, 1.35, 1.15)
HOUR_WEIGHTS = (
    0.2, 0.1, 0.05, 0.05, 0.05, 0.1, 0.3, 0.6, 0.9, 1.0, 1.1, 1.3,
    1.5, 1.3, 1.1, 1.0, 1.0, 1.2, 1.5, 1.9, 2.1, 1.8, 1.1, 0.5,
)  # fmt: skip
YEARLY_AMPLITUDE = 0.2
YEARLY_PEAK_DAY = 355
SEASONAL_AMPLITUDE = 0.9

DAY = 86_400
FUTURE = int(datetime(2099, 1, 1, tzinfo=UTC).timestamp())
VIEW, CLICK, CART, PURCHASE, RETURN = range(5)
EVENT_TEXTS = (*EVENT_TYPES, "wishlist", "rate")
BAD_TIMESTAMPS = ("not a date", "2024-13-45")
QUANTITY_TEXT = "three"  # written for quantity code QUANTITY_UNPARSEABLE
QUANTITY_UNPARSEABLE = -1000
BAD_PRICE = "cheap"
BAD_BIRTH_DATE = "yesterday"
#: Tables whose typed columns become text when bad rows are planted.
TABLES_WITH_BAD_ROWS = ("interactions", "items", "customers")

INTERACTION_DEFECTS: tuple[str, ...] = (
    Reason.EMPTY_TENANT_ID.value,
    Reason.UNKNOWN_TENANT.value,
    Reason.EMPTY_CUSTOMER_ID.value,
    Reason.EMPTY_ITEM_ID.value,
    unparseable("occurred_at"),
    Reason.FUTURE_TIMESTAMP.value,
    Reason.UNKNOWN_EVENT_TYPE.value,
    unparseable("quantity"),
    Reason.NON_POSITIVE_QUANTITY.value,
    Reason.UNKNOWN_ITEM.value,
    Reason.DUPLICATE_ROW.value,
)
ITEM_DEFECTS: tuple[str, ...] = (
    Reason.EMPTY_ITEM_ID.value,
    unparseable("price"),
    Reason.DUPLICATE_ROW.value,
)
CUSTOMER_DEFECTS: tuple[str, ...] = (
    Reason.EMPTY_CUSTOMER_ID.value,
    unparseable("birth_date"),
    Reason.DUPLICATE_ROW.value,
)
TENANT_DEFECTS = (Reason.EMPTY_TENANT_ID.value, Reason.UNKNOWN_TENANT.value)


# --------------------------------------------------------------------------- public API


@dataclass(frozen=True)
class GenerationSpec:
    """The arguments of :func:`generate`, validated in one place."""

    tenants: int = 1
    customers: int = 1000
    items: int = 500
    interactions: int = 20000
    seed: int = 0
    bad_share: float = 0.0
    fmt: Format = "parquet"
    tenant_id_column: bool = True
    end_date: date = date(2025, 12, 31)
    days: int = 365

    def __post_init__(self) -> None:
        for name in ("tenants", "customers", "items", "interactions", "days"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if not 0.0 <= self.bad_share <= 0.5:
            raise ValueError(f"bad_share must be within 0..0.5, got {self.bad_share}")
        if self.fmt not in ("parquet", "csv"):
            raise ValueError(f"fmt must be parquet or csv, got {self.fmt!r}")
        if not self.tenant_id_column and self.tenants != 1:
            raise ValueError("tenant_id_column=False needs exactly one tenant")
        if self.end_date > date.today():
            logger.warning(
                "end_date %s is in the future: recent events will be rejected as future timestamps",
                self.end_date,
            )

    @property
    def window_end(self) -> int:
        """First second after the window (midnight UTC after ``end_date``)."""
        return int(datetime(*self.end_date.timetuple()[:3], tzinfo=UTC).timestamp()) + DAY

    @property
    def window_start(self) -> int:
        return self.window_end - self.days * DAY

    def typed(self, table: str) -> bool:
        """Whether the table's parquet columns get their real types (else all text)."""
        if self.fmt == "csv":
            return False
        return not (self.bad_share > 0 and table in TABLES_WITH_BAD_ROWS)

    def as_dict(self) -> dict[str, object]:
        return {
            "tenants": self.tenants,
            "customers": self.customers,
            "items": self.items,
            "interactions": self.interactions,
            "seed": self.seed,
            "bad_share": self.bad_share,
            "fmt": self.fmt,
            "tenant_id_column": self.tenant_id_column,
            "end_date": self.end_date.isoformat(),
            "days": self.days,
        }


@dataclass(frozen=True)
class GenerationReport:
    """What :func:`generate` wrote."""

    out_dir: Path
    #: Rows written per table, bad rows included.
    rows: dict[str, int]
    #: (table, quarantine reason text) -> number of bad rows planted; kinds not planted are absent.
    planted: dict[tuple[str, str], int]
    #: The arguments, so that the data can be generated again.
    parameters: dict[str, object] = field(default_factory=dict)

    def to_json(self) -> str:
        """The report as JSON (without ``out_dir``, so that it is the same wherever written)."""
        planted = [
            {"table": table, "reason": reason, "rows": n}
            for (table, reason), n in sorted(self.planted.items())
        ]
        document = {"parameters": self.parameters, "rows": self.rows, "planted": planted}
        return json.dumps(document, indent=2, sort_keys=True) + "\n"


def generate(
    out_dir: str | Path,
    *,
    tenants: int = 1,
    customers: int = 1000,
    items: int = 500,
    interactions: int = 20000,
    seed: int = 0,
    bad_share: float = 0.0,
    fmt: Format = "parquet",
    tenant_id_column: bool = True,
    end_date: date = date(2025, 12, 31),
    days: int = 365,
) -> GenerationReport:
    """Write synthetic input files into ``out_dir``; see the module docstring for what they hold.

    Parameters
    ----------
    out_dir
        Directory to write into (created if missing).
    tenants
        Number of tenants.
    customers, items, interactions
        Sizes per tenant (each tenant scaled by a factor in [0.5, 1.5] when there are several).
    seed
        Seed of the random generator; the same arguments give byte-identical files.
    bad_share
        Fraction of bad rows in interactions, items and customers (0..0.5).
    fmt
        ``"parquet"`` (zstd) or ``"csv"`` (with a header row).
    tenant_id_column
        ``False`` (one tenant only): no ``tenant_id`` column anywhere and no ``tenants`` file.
    end_date, days
        The events span ``days`` days ending on ``end_date`` (inclusive, UTC).
    """
    spec = GenerationSpec(
        tenants=tenants,
        customers=customers,
        items=items,
        interactions=interactions,
        seed=seed,
        bad_share=bad_share,
        fmt=fmt,
        tenant_id_column=tenant_id_column,
        end_date=end_date,
        days=days,
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.Generator(np.random.PCG64(seed))

    layout = _Layout.draw(spec, rng)
    good_items = _draw_items(layout, rng)
    good_customers = _draw_customers(layout, rng)
    events = _draw_events(layout, good_items, good_customers, rng)
    _date_customers(layout, good_customers, events, rng)

    planted: dict[tuple[str, str], int] = {}
    item_rows, item_counts = _plant_items(layout, good_items, rng)
    customer_rows, customer_counts = _plant_customers(layout, good_customers, rng)
    event_rows, event_counts = _plant_interactions(layout, events, item_rows, rng)
    for table, counts in (
        ("interactions", event_counts),
        ("items", item_counts),
        ("customers", customer_counts),
    ):
        planted.update({(table, reason): n for reason, n in counts.items() if n})

    render = _Renderer(layout, item_rows, customer_rows, event_rows)
    tables = {
        "tenants": render.tenants(rng),
        "items": render.items(item_rows),
        "customers": render.customers(customer_rows),
        "interactions": render.interactions(event_rows),
        "customer_flags": render.customer_flags(good_customers, rng),
        "item_restrictions": render.item_restrictions(rng),
        "consents": render.consents(good_customers, rng),
        "erasure_requests": render.erasure_requests(good_customers, rng),
    }
    if not spec.tenant_id_column:
        del tables["tenants"]
    for name, table in tables.items():
        _write(table, out / f"{name}.{spec.fmt}", spec.fmt)
    _write(
        render.planted_customers(good_customers), out / f"_planted_customers.{spec.fmt}", spec.fmt
    )
    _warn_about_stale_files(out, set(tables), spec.fmt)

    report = GenerationReport(
        out_dir=out,
        rows={name: table.num_rows for name, table in tables.items()},
        planted=planted,
        parameters=spec.as_dict(),
    )
    (out / "_generation.json").write_text(report.to_json(), encoding="utf-8")
    logger.info(
        "generated %d tenants, %d interaction rows (%d bad) into %s",
        spec.tenants,
        report.rows["interactions"],
        sum(n for (table, _), n in planted.items() if table == "interactions"),
        out,
    )
    return report


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class _Layout:
    """Per-tenant sizes, categories, countries and segments (arrays indexed by tenant)."""

    spec: GenerationSpec
    customers: np.ndarray  # customers per tenant
    items: np.ndarray
    interactions: np.ndarray
    customer_offsets: np.ndarray  # global index of a tenant's first customer; length T + 1
    item_offsets: np.ndarray
    categories: np.ndarray  # (T, MAX_CATEGORIES): index into CATEGORIES, -1 beyond n_categories
    n_categories: np.ndarray
    category_weights: np.ndarray  # (T, MAX_CATEGORIES), 0 beyond n_categories
    countries: np.ndarray  # (T, MAX_COUNTRIES): index into COUNTRIES, the main country first
    n_countries: np.ndarray
    n_segments: np.ndarray
    preferred: np.ndarray  # (T, MAX_SEGMENTS, MAX_PREFERRED): local categories
    n_preferred: np.ndarray  # (T, MAX_SEGMENTS)

    @property
    def n_tenants(self) -> int:
        return len(self.customers)

    @staticmethod
    def draw(spec: GenerationSpec, rng: np.random.Generator) -> _Layout:
        n = spec.tenants
        scale = rng.uniform(0.5, 1.5, n) if n > 1 else np.ones(1)
        customers = np.maximum(1, np.rint(spec.customers * scale)).astype(np.int64)
        items = np.maximum(1, np.rint(spec.items * scale)).astype(np.int64)
        interactions = np.maximum(1, np.rint(spec.interactions * scale)).astype(np.int64)

        n_categories = np.minimum(rng.integers(MIN_CATEGORIES, MAX_CATEGORIES + 1, n), items)
        keys = rng.random((n, len(CATEGORIES)))
        keys[:, 0] = -1.0  # alcohol is always there, as local category 0
        categories = np.argsort(keys, axis=1)[:, :MAX_CATEGORIES]
        valid = np.arange(MAX_CATEGORIES) < n_categories[:, None]
        categories = np.where(valid, categories, -1)
        category_weights = rng.gamma(2.0, 1.0, (n, MAX_CATEGORIES)) * valid

        n_countries = rng.integers(MIN_COUNTRIES, MAX_COUNTRIES + 1, n)
        countries = np.argsort(rng.random((n, len(COUNTRIES))), axis=1)[:, :MAX_COUNTRIES]

        n_segments = rng.integers(MIN_SEGMENTS, MAX_SEGMENTS + 1, n)
        keys = rng.random((n, MAX_SEGMENTS, MAX_CATEGORIES))
        keys[~np.broadcast_to(valid[:, None, :], keys.shape)] = np.inf
        preferred = np.argsort(keys, axis=2)[:, :, :MAX_PREFERRED]
        n_preferred = np.minimum(
            rng.integers(1, MAX_PREFERRED + 1, (n, MAX_SEGMENTS)), n_categories[:, None]
        )
        return _Layout(
            spec=spec,
            customers=customers,
            items=items,
            interactions=interactions,
            customer_offsets=_offsets(customers),
            item_offsets=_offsets(items),
            categories=categories,
            n_categories=n_categories,
            category_weights=category_weights,
            countries=countries,
            n_countries=n_countries,
            n_segments=n_segments,
            preferred=preferred,
            n_preferred=n_preferred,
        )


# --------------------------------------------------------------------------- good rows


def _draw_items(layout: _Layout, rng: np.random.Generator) -> Columns:
    """One row per tenant and item, in tenant and item order."""
    tenant = np.repeat(np.arange(layout.n_tenants), layout.items)
    n = len(tenant)
    local = np.arange(n) - layout.item_offsets[tenant]
    # The first items cover every category once, the rest follow the category weights.
    category = _pick_category(layout, tenant, rng.random(n))
    first = local < layout.n_categories[tenant]
    category[first] = local[first]
    pool = layout.categories[tenant, category]
    base_price = np.array([c.base_price for c in CATEGORIES])[pool]
    price = np.maximum(19, np.rint(base_price * rng.lognormal(0.0, 0.45, n) * 100))
    min_age = np.array([-1 if c.min_age is None else c.min_age for c in CATEGORIES])[pool]
    launched = layout.spec.window_start - rng.integers(1, 1500, n) * DAY + rng.integers(0, DAY, n)
    return {
        "tenant": tenant,
        "item": local,
        "number": local,  # shown in the name (an empty-id copy keeps its name)
        "category": category,
        "popularity": rng.permutation(n),  # order of popularity within the category
        "pool": pool,
        "brand": _zipf_index(rng.random(n), len(BRANDS)),
        "adjective": rng.integers(0, len(ADJECTIVES), n),
        "price": price.astype(np.int64),  # cents
        "price_code": np.zeros(n, np.int64),
        "is_active": rng.random(n) >= INACTIVE_SHARE,
        "min_age": min_age,
        "sustainability": np.rint(rng.beta(2.0, 2.0, n) * 1000).astype(np.int64),  # per mille
        "launched": launched,
    }


def _draw_customers(layout: _Layout, rng: np.random.Generator) -> Columns:
    """One row per tenant and customer; ``created`` is filled in after the events."""
    spec = layout.spec
    tenant = np.repeat(np.arange(layout.n_tenants), layout.customers)
    n = len(tenant)
    u = rng.random(n)
    tail = np.floor(
        ((u - MAIN_COUNTRY_SHARE) / (1 - MAIN_COUNTRY_SHARE)).clip(0) ** 1.7
        * (layout.n_countries[tenant] - 1)
    )
    country = np.where(u < MAIN_COUNTRY_SHARE, 0, 1 + tail).astype(np.int64)
    country = np.minimum(country, layout.n_countries[tenant] - 1)
    minor = rng.random(n) < MINOR_SHARE
    age = np.where(minor, rng.uniform(13.0, 17.9, n), 18.0 + 62.0 * rng.beta(2.0, 3.5, n))
    last_day = spec.window_end // DAY - 1
    return {
        "tenant": tenant,
        "customer": np.arange(n) - layout.customer_offsets[tenant],
        "country": layout.countries[tenant, country],
        "birth_date": (last_day - np.rint(age * 365.25)).astype(np.int64),  # days since 1970
        "birth_code": np.zeros(n, np.int64),
        "created": np.zeros(n, np.int64),
        "segment": np.floor(rng.random(n) * layout.n_segments[tenant]).astype(np.int64),
        "activity": np.minimum(rng.pareto(1.5, n) + 1.0, MAX_ACTIVITY),
        "interval": np.clip(rng.lognormal(math.log(21.0), 0.5, n), 4.0, 120.0),  # days
    }


def _draw_events(
    layout: _Layout, items: Columns, customers: Columns, rng: np.random.Generator
) -> Columns:
    """All good interactions: sessions, repeat purchases and returns, unique and sorted."""
    repeats = np.rint(layout.interactions * REPEAT_SHARE).astype(np.int64)
    returns = np.rint(layout.interactions * RETURN_SHARE).astype(np.int64)
    base = np.maximum(1, layout.interactions - repeats - returns)
    events, n_sessions = _session_events(layout, items, customers, base, rng)
    repeat_rows = _repeat_purchases(layout, items, customers, events, repeats, n_sessions, rng)
    n_sessions = n_sessions + np.bincount(repeat_rows["tenant"], minlength=layout.n_tenants)
    events = _concat(events, repeat_rows)
    events = _concat(events, _returns(layout, events, returns, n_sessions, rng))
    return _unique_sorted(events, layout.spec.window_start)


def _session_events(
    layout: _Layout,
    items: Columns,
    customers: Columns,
    base: np.ndarray,
    rng: np.random.Generator,
) -> tuple[Columns, np.ndarray]:
    """``base`` events per tenant in sessions; also returns the number of sessions per tenant."""
    spec = layout.spec
    # Draw more sessions than needed, then cut each tenant's event stream at its target.
    drawn = np.ceil(base * SESSION_STOP * 1.3 + 3).astype(np.int64)
    tenant = np.repeat(np.arange(layout.n_tenants), drawn)
    length = np.minimum(rng.geometric(SESSION_STOP, len(tenant)), MAX_SESSION_EVENTS)
    before = np.cumsum(length) - length
    before -= before[_offsets(drawn)[:-1]][tenant]
    length = np.clip(base[tenant] - before, 0, length)
    kept = length > 0
    tenant, length = tenant[kept], length[kept]
    n_sessions = np.bincount(tenant, minlength=layout.n_tenants)
    session = np.arange(len(tenant)) - _offsets(n_sessions)[tenant]
    n = len(tenant)

    lo, hi = layout.customer_offsets[tenant], layout.customer_offsets[tenant + 1]
    customer = _pick_weighted(np.cumsum(customers["activity"]), lo, hi, rng.random(n))
    segment = customers["segment"][customer]
    main = _pick_category(layout, tenant, rng.random(n))
    prefer = rng.random(n) < PREFERRED_SESSION_SHARE
    slot = np.floor(rng.random(n) * layout.n_preferred[tenant, segment]).astype(np.int64)
    main = np.where(prefer, layout.preferred[tenant, segment, slot], main)
    day = _sample_days(spec, layout.categories[tenant, main], rng.random(n))
    start = spec.window_start + day * DAY + _sample_seconds_of_day(rng, n)
    customer_local = np.where(
        rng.random(n) < GUEST_SESSION_SHARE, -1, customer - layout.customer_offsets[tenant]
    )

    of = np.repeat(np.arange(n), length)  # session of each event
    first = _offsets(length)[:-1]
    gaps = rng.exponential(MEAN_GAP_SECONDS, len(of)).astype(np.int64)
    gaps[first] = 0
    offset = np.cumsum(gaps)
    offset -= offset[first][of]
    duration = offset[first + length - 1]
    start -= np.maximum(0, start + duration - (spec.window_end - 1))
    e_tenant = tenant[of]
    category = main[of]
    wander = np.flatnonzero(rng.random(len(of)) >= SESSION_STICKINESS)
    category[wander] = _pick_category(layout, e_tenant[wander], rng.random(len(wander)))
    item = _pick_item(layout, items, e_tenant, category, rng.random(len(of)))
    event_type = _choose(rng, len(of), SESSION_EVENT_MIX)
    quantity = np.where(event_type >= CART, np.minimum(rng.geometric(0.75, len(of)), 6), 1).astype(
        np.int64
    )
    value = np.where(
        event_type == PURCHASE, items["price"][layout.item_offsets[e_tenant] + item] * quantity, -1
    )
    small = np.int32  # ids and codes: half the memory of int64
    events = {
        "tenant": e_tenant.astype(small),
        "customer": customer_local[of].astype(small),
        "item": item.astype(small),
        "timestamp": start[of] + offset,
        "timestamp_code": np.zeros(len(of), small),
        "event_type": event_type.astype(small),
        "quantity": quantity.astype(small),
        "value": value,  # cents, -1 = empty
        "session": session[of].astype(small),
    }
    return events, n_sessions


def _repeat_purchases(
    layout: _Layout,
    items: Columns,
    customers: Columns,
    events: Columns,
    quota: np.ndarray,
    n_sessions: np.ndarray,
    rng: np.random.Generator,
) -> Columns:
    """Chains of re-purchases of consumables, every ``interval`` days of the customer."""
    consumable = np.array([c.consumable for c in CATEGORIES])
    pool = items["pool"][layout.item_offsets[events["tenant"]] + events["item"]]
    candidate = (events["event_type"] == PURCHASE) & (events["customer"] >= 0) & consumable[pool]
    seeds = np.flatnonzero(candidate & (rng.random(len(candidate)) < REPEAT_SEED_SHARE))
    seed_priority = rng.integers(0, 2**40, len(seeds))
    seed = np.repeat(seeds, MAX_REPEATS)
    k = np.tile(np.arange(1, MAX_REPEATS + 1), len(seeds))
    tenant = events["tenant"][seed]
    customer = layout.customer_offsets[tenant] + events["customer"][seed]
    interval = customers["interval"][customer] * DAY
    jitter = rng.normal(0.0, 0.1, len(seed)) * interval
    timestamp = events["timestamp"][seed] + np.rint(k * interval + jitter).astype(np.int64)
    fits = (timestamp < layout.spec.window_end) & (timestamp > events["timestamp"][seed])
    # Whole chains of randomly ordered seeds, until the tenant's quota is reached.
    priority = np.repeat(seed_priority, MAX_REPEATS) * (MAX_REPEATS + 1) + k
    kept = np.flatnonzero(fits)
    kept = kept[_within_quota(tenant[kept], priority[kept], quota)]
    rows = _take(events, seed[kept])
    rows["timestamp"] = timestamp[kept]
    rows["session"] = n_sessions[rows["tenant"]] + _rank_within(rows["tenant"])
    return rows


def _returns(
    layout: _Layout,
    events: Columns,
    quota: np.ndarray,
    n_sessions: np.ndarray,
    rng: np.random.Generator,
) -> Columns:
    """Returns of earlier purchases, 1 to 30 days later, same quantity and value."""
    end = layout.spec.window_end - 1
    candidate = np.flatnonzero(
        (events["event_type"] == PURCHASE)
        & (events["customer"] >= 0)
        & (events["timestamp"] < end - DAY)
    )
    priority = rng.integers(0, 2**40, len(candidate))
    chosen = candidate[_within_quota(events["tenant"][candidate], priority, quota)]
    rows = _take(events, chosen)
    room = np.minimum(29 * DAY, end - rows["timestamp"] - DAY)
    rows["timestamp"] = (
        rows["timestamp"] + DAY + np.floor(rng.random(len(chosen)) * room).astype(np.int64)
    )
    rows["event_type"] = np.full(len(chosen), RETURN)
    rows["session"] = n_sessions[rows["tenant"]] + _rank_within(rows["tenant"])
    return rows


def _unique_sorted(events: Columns, window_start: int) -> Columns:
    """Sort by tenant and time and drop exact repeats (same session, second, item and type)."""
    if not len(events["tenant"]):
        return events
    # Two packed keys sort much faster than five separate ones.
    span = int(events["timestamp"].max()) - window_start + 1
    items = int(events["item"].max()) + 1
    types = len(EVENT_TEXTS)
    tenants, sessions = int(events["tenant"].max()) + 1, int(events["session"].max()) + 1
    if max(tenants * span, sessions * items * types) >= 2**62:
        raise ValueError("too many tenants, sessions or items to sort the events")
    first = events["tenant"].astype(np.int64) * span + (events["timestamp"] - window_start)
    second = (events["session"].astype(np.int64) * items + events["item"]) * types
    second += events["event_type"]
    order = np.lexsort((second, first))
    first, second = first[order], second[order]
    repeated = np.concatenate(([False], (first[1:] == first[:-1]) & (second[1:] == second[:-1])))
    if repeated.any():
        logger.debug("dropping %d repeated events", int(repeated.sum()))
        order = order[~repeated]
    return _take(events, order)


def _date_customers(
    layout: _Layout, customers: Columns, events: Columns, rng: np.random.Generator
) -> None:
    """Set ``created`` before the customer's first event (or somewhere before the window end)."""
    spec = layout.spec
    n = len(customers["tenant"])
    first = spec.window_start + np.floor(rng.random(n) * spec.days * DAY).astype(np.int64)
    known = events["customer"] >= 0
    index = layout.customer_offsets[events["tenant"][known]] + events["customer"][known]
    np.minimum.at(first, index, events["timestamp"][known])
    customers["created"] = first - 3600 - np.rint(rng.exponential(200.0 * DAY, n)).astype(np.int64)


# --------------------------------------------------------------------------- bad rows


#: The columns of each table that end up in the file (two rows equal in these are equal rows).
ITEM_FIELDS = ("tenant", "item", "number", "pool", "brand", "adjective", "price", "price_code",
               "is_active", "min_age", "sustainability", "launched")  # fmt: skip
CUSTOMER_FIELDS = ("tenant", "customer", "country", "birth_date", "birth_code", "created")
EVENT_FIELDS = ("tenant", "customer", "item", "timestamp", "timestamp_code", "event_type",
                "quantity", "value", "session")  # fmt: skip


def _bad_counts(n_good: int, share: float, kinds: Sequence[str]) -> dict[str, int]:
    """Bad rows per kind so that they are ``share`` of all rows, at least one of each."""
    if share <= 0 or not kinds:
        return {k: 0 for k in kinds}
    total = max(len(kinds), round(share / (1.0 - share) * n_good))
    each, extra = divmod(total, len(kinds))
    return {k: each + (i < extra) for i, k in enumerate(kinds)}


def _plant(
    good: Columns,
    fields: Sequence[str],
    counts: dict[str, int],
    spoil: Callable[[str, Columns], None],
    rng: np.random.Generator,
) -> tuple[Columns, dict[str, int]]:
    """Copies of good rows, each spoilt by one kind of defect, inserted among the good rows.

    ``good`` is sorted by tenant; ``counts`` says how many copies of each kind to make;
    ``spoil(kind, rows)`` changes the copies in place. Spoilt copies that came out equal are
    kept once. Returns all rows and the number of bad rows per kind actually written.
    """
    n = len(good["tenant"])
    total = sum(counts.values())
    if not total:
        return good, counts
    drawn = rng.choice(n, size=total, replace=total > n)
    bounds = _offsets(np.array(list(counts.values()), dtype=np.int64))
    written: dict[str, int] = {}
    bad: list[Columns] = []
    homes: list[np.ndarray] = []
    for i, kind in enumerate(counts):
        rows = _take(good, drawn[bounds[i] : bounds[i + 1]])
        home = rows["tenant"].copy()  # where the copy goes, whatever happens to its tenant_id
        spoil(kind, rows)
        if kind != Reason.DUPLICATE_ROW:
            keep = _first_unique(rows, fields)
            rows, home = _take(rows, keep), home[keep]
        written[kind] = len(home)
        bad.append(rows)
        homes.append(home)
    return _insert(good, bad, np.concatenate(homes), rng), written


def _insert(
    good: Columns, bad: list[Columns], home: np.ndarray, rng: np.random.Generator
) -> Columns:
    """Good rows (sorted by tenant) with the bad rows at random places among their home tenant's."""
    rows = bad[0]
    for b in bad[1:]:
        rows = _concat(rows, b)
    lo = np.searchsorted(good["tenant"], home, side="left")
    hi = np.searchsorted(good["tenant"], home, side="right")
    place = lo + np.floor(rng.random(len(home)) * (hi - lo + 1)).astype(np.int64)
    key = np.concatenate((np.arange(len(good["tenant"])) * 2 + 1, place * 2))
    return _take(_concat(good, rows), np.argsort(key, kind="stable"))


def _first_unique(rows: Columns, fields: Sequence[str]) -> np.ndarray:
    """Indices of the first of each group of rows equal in ``fields``, in their order."""
    if not len(rows["tenant"]):
        return np.zeros(0, np.int64)
    matrix = np.column_stack([rows[f].astype(np.int64) for f in fields])
    _, first = np.unique(matrix, axis=0, return_index=True)
    return np.sort(first)


def _plant_items(
    layout: _Layout, items: Columns, rng: np.random.Generator
) -> tuple[Columns, dict[str, int]]:
    def spoil(kind: str, rows: Columns) -> None:
        if kind == Reason.EMPTY_ITEM_ID:
            rows["item"] = np.full(len(rows["item"]), -1)
        elif kind == unparseable("price"):  # a fresh id that nothing refers to
            rows["item"] = layout.items[rows["tenant"]] + _rank_within(rows["tenant"])
            rows["number"] = rows["item"]
            rows["price_code"] = np.ones(len(rows["item"]), np.int64)
            rows["price"] = np.zeros(len(rows["item"]), np.int64)  # hidden by the text

    counts = _bad_counts(len(items["tenant"]), layout.spec.bad_share, ITEM_DEFECTS)
    return _plant(items, ITEM_FIELDS, counts, spoil, rng)


def _plant_customers(
    layout: _Layout, customers: Columns, rng: np.random.Generator
) -> tuple[Columns, dict[str, int]]:
    def spoil(kind: str, rows: Columns) -> None:
        if kind == Reason.EMPTY_CUSTOMER_ID:
            rows["customer"] = np.full(len(rows["customer"]), -1)
        elif kind == unparseable("birth_date"):  # a fresh id that nothing refers to
            rows["customer"] = layout.customers[rows["tenant"]] + _rank_within(rows["tenant"])
            rows["birth_code"] = np.ones(len(rows["customer"]), np.int64)
            rows["birth_date"] = np.zeros(len(rows["customer"]), np.int64)  # hidden by the text

    counts = _bad_counts(len(customers["tenant"]), layout.spec.bad_share, CUSTOMER_DEFECTS)
    return _plant(customers, CUSTOMER_FIELDS, counts, spoil, rng)


def _plant_interactions(
    layout: _Layout, events: Columns, item_rows: Columns, rng: np.random.Generator
) -> tuple[Columns, dict[str, int]]:
    kinds = [
        k for k in INTERACTION_DEFECTS if layout.spec.tenant_id_column or k not in TENANT_DEFECTS
    ]
    # Unknown items are numbered just past every item row of the tenant, bad ones included
    # (so they may well exist in a bigger tenant: a join that forgets tenant_id lets them in).
    unknown_items = np.zeros(layout.n_tenants, np.int64)
    np.maximum.at(unknown_items, item_rows["tenant"], item_rows["item"] + 1)
    context = _DefectContext(layout.n_tenants, unknown_items, rng)

    def spoil(kind: str, rows: Columns) -> None:
        _INTERACTION_SPOILERS[kind](rows, context)

    counts = _bad_counts(len(events["tenant"]), layout.spec.bad_share, kinds)
    return _plant(events, EVENT_FIELDS, counts, spoil, rng)


@dataclass(frozen=True)
class _DefectContext:
    n_tenants: int
    unknown_items: np.ndarray  # first unknown item number per tenant
    rng: np.random.Generator


def _set(rows: Columns, column: str, value: int | np.ndarray) -> None:
    shape, dtype = rows["tenant"].shape, rows[column].dtype
    rows[column] = np.broadcast_to(np.asarray(value), shape).astype(dtype)


def _spoil_empty_tenant(rows: Columns, c: _DefectContext) -> None:
    _set(rows, "tenant", -1)


def _spoil_unknown_tenant(rows: Columns, c: _DefectContext) -> None:
    _set(rows, "tenant", c.n_tenants + c.rng.integers(0, 3, len(rows["tenant"])))


def _spoil_empty_customer(rows: Columns, c: _DefectContext) -> None:
    _set(rows, "customer", -1)
    _set(rows, "session", -1)


def _spoil_empty_item(rows: Columns, c: _DefectContext) -> None:
    _set(rows, "item", -1)


def _spoil_timestamp_text(rows: Columns, c: _DefectContext) -> None:
    _set(rows, "timestamp_code", c.rng.integers(1, len(BAD_TIMESTAMPS) + 1, len(rows["tenant"])))
    _set(rows, "timestamp", 0)  # hidden by the text: rows that differed only here are equal


def _spoil_future(rows: Columns, c: _DefectContext) -> None:
    _set(rows, "timestamp", FUTURE + c.rng.integers(0, 300 * DAY, len(rows["tenant"])))


def _spoil_event_type(rows: Columns, c: _DefectContext) -> None:
    n = len(rows["tenant"])
    _set(rows, "event_type", c.rng.integers(len(EVENT_TYPES), len(EVENT_TEXTS), n))


def _spoil_quantity_text(rows: Columns, c: _DefectContext) -> None:
    _set(rows, "quantity", QUANTITY_UNPARSEABLE)


def _spoil_quantity_sign(rows: Columns, c: _DefectContext) -> None:
    _set(rows, "event_type", PURCHASE)  # a negative quantity on a return would be fine
    _set(rows, "quantity", np.where(c.rng.random(len(rows["tenant"])) < 0.5, 0, -3))


def _spoil_unknown_item(rows: Columns, c: _DefectContext) -> None:
    n = len(rows["tenant"])
    _set(rows, "item", c.unknown_items[rows["tenant"]] + c.rng.integers(0, 3, n))


def _spoil_nothing(rows: Columns, c: _DefectContext) -> None:
    """An exact copy: the original stays good, the copy is the bad row."""


_INTERACTION_SPOILERS: dict[str, Callable[[Columns, _DefectContext], None]] = {
    Reason.EMPTY_TENANT_ID.value: _spoil_empty_tenant,
    Reason.UNKNOWN_TENANT.value: _spoil_unknown_tenant,
    Reason.EMPTY_CUSTOMER_ID.value: _spoil_empty_customer,
    Reason.EMPTY_ITEM_ID.value: _spoil_empty_item,
    unparseable("occurred_at"): _spoil_timestamp_text,
    Reason.FUTURE_TIMESTAMP.value: _spoil_future,
    Reason.UNKNOWN_EVENT_TYPE.value: _spoil_event_type,
    unparseable("quantity"): _spoil_quantity_text,
    Reason.NON_POSITIVE_QUANTITY.value: _spoil_quantity_sign,
    Reason.UNKNOWN_ITEM.value: _spoil_unknown_item,
    Reason.DUPLICATE_ROW.value: _spoil_nothing,
}

# --------------------------------------------------------------------------- rendering


class _Renderer:
    """Turns the integer columns into Arrow tables with the contract's column names."""

    def __init__(
        self, layout: _Layout, items: Columns, customers: Columns, events: Columns
    ) -> None:
        self.layout = layout
        self.spec = layout.spec
        self.item_width = _width(5, items["item"], events["item"])
        self.customer_width = _width(6, customers["customer"])
        self.session_width = _width(7, events["session"])
        self.tenant_width = max(4, len(str(layout.n_tenants + 3)))

    # ids ---------------------------------------------------------------
    def tenant_ids(self, tenant: np.ndarray) -> pa.Array:
        return _id_strings("t", tenant, self.tenant_width)

    def item_ids(self, item: np.ndarray) -> pa.Array:
        return _id_strings("i", item, self.item_width)

    def customer_ids(self, customer: np.ndarray) -> pa.Array:
        return _id_strings("c", customer, self.customer_width)

    def _with_tenant(self, tenant: np.ndarray, columns: dict[str, pa.Array]) -> pa.Table:
        if self.spec.tenant_id_column:
            columns = {"tenant_id": self.tenant_ids(tenant), **columns}
        return pa.table(columns)

    # tables ------------------------------------------------------------
    def tenants(self, rng: np.random.Generator) -> pa.Table:
        n = self.layout.n_tenants
        typed = self.spec.typed("tenants")
        k = np.array([10, 5, 20])[_choose(rng, n, (0.8, 0.1, 0.1))]
        half_life = np.array([30, 14, 60, 90])[_choose(rng, n, (0.7, 0.1, 0.1, 0.1))]
        return pa.table(
            {
                "tenant_id": self.tenant_ids(np.arange(n)),
                "mode": pa.array(["on"] * n),
                "k": _integers(k, typed),
                "algorithm": pa.array(["auto"] * n),
                "half_life_days": _decimals(half_life, 1, typed),
            }
        )

    def items(self, items: Columns) -> pa.Table:
        typed = self.spec.typed("items")
        names = [c.name for c in CATEGORIES]
        category = _lookup(names, items["pool"])
        number = pc.cast(pa.array(items["number"] + 1), pa.string())
        name = pc.binary_join_element_wise(
            _lookup(ADJECTIVES, items["adjective"]), category, number, " "
        )
        return self._with_tenant(
            items["tenant"],
            {
                "item_id": self.item_ids(items["item"]),
                "name": name,
                "category": category,
                "brand": _lookup(BRANDS, items["brand"]),
                "price": _decimals(items["price"], 100, typed, items["price_code"], (BAD_PRICE,)),
                "is_active": _booleans(items["is_active"], typed),
                "min_age": _integers(items["min_age"], typed, null=items["min_age"] < 0),
                "sustainability_score": _decimals(items["sustainability"], 1000, typed),
                "launched_at": _timestamps(items["launched"], typed),
            },
        )

    def customers(self, customers: Columns) -> pa.Table:
        typed = self.spec.typed("customers")
        return self._with_tenant(
            customers["tenant"],
            {
                "customer_id": self.customer_ids(customers["customer"]),
                "country": _lookup(COUNTRIES, customers["country"]),
                "birth_date": _dates(
                    customers["birth_date"], typed, customers["birth_code"], (BAD_BIRTH_DATE,)
                ),
                "created_at": _timestamps(customers["created"], typed),
            },
        )

    def interactions(self, events: Columns) -> pa.Table:
        typed = self.spec.typed("interactions")
        quantity_code = np.where(events["quantity"] == QUANTITY_UNPARSEABLE, 1, 0)
        return self._with_tenant(
            events["tenant"],
            {
                "customer_id": self.customer_ids(events["customer"]),
                "item_id": self.item_ids(events["item"]),
                "occurred_at": _timestamps(
                    events["timestamp"], typed, events["timestamp_code"], BAD_TIMESTAMPS
                ),
                "event_type": _lookup(EVENT_TEXTS, events["event_type"]),
                "quantity": _integers(
                    events["quantity"], typed, None, quantity_code, (QUANTITY_TEXT,)
                ),
                "value": _decimals(events["value"], 100, typed, null=events["value"] < 0),
                "session_id": _id_strings("s", events["session"], self.session_width),
            },
        )

    def customer_flags(self, customers: Columns, rng: np.random.Generator) -> pa.Table:
        parts = []
        for flag_index, share in enumerate(FLAGS.values()):
            chosen = np.flatnonzero(rng.random(len(customers["tenant"])) < share)
            parts.append((chosen, np.full(len(chosen), flag_index)))
        chosen = np.concatenate([p[0] for p in parts])
        flag = np.concatenate([p[1] for p in parts])
        order = np.lexsort((flag, chosen))
        chosen, flag = chosen[order], flag[order]
        return self._with_tenant(
            customers["tenant"][chosen],
            {
                "customer_id": self.customer_ids(customers["customer"][chosen]),
                "flag": _lookup(list(FLAGS), flag),
            },
        )

    def item_restrictions(self, rng: np.random.Generator) -> pa.Table:
        layout = self.layout
        n = layout.n_tenants
        typed = self.spec.typed("item_restrictions")
        # One category, not allowed in one or two of the tenant's non-main countries.
        category = np.floor(rng.random(n) * layout.n_categories).astype(np.int64)
        n_rows = 1 + (rng.random(n) < 0.5)
        c_tenant = np.repeat(np.arange(n), n_rows)
        first = 1 + np.floor(rng.random(n) * (layout.n_countries - 1)).astype(np.int64)
        step = np.arange(len(c_tenant)) - _offsets(n_rows)[c_tenant]
        c_country = 1 + (first[c_tenant] - 1 + step) % (layout.n_countries[c_tenant] - 1)
        # A few single items, each not allowed in one of the tenant's countries.
        i_tenant = np.repeat(np.arange(n), RESTRICTED_ITEMS_PER_TENANT)
        stratum = np.tile(np.arange(RESTRICTED_ITEMS_PER_TENANT), n)
        sizes = layout.items[i_tenant]
        spread = (stratum + rng.random(len(i_tenant))) * sizes / RESTRICTED_ITEMS_PER_TENANT
        item = np.where(sizes >= RESTRICTED_ITEMS_PER_TENANT, np.floor(spread), stratum)
        item = item.astype(np.int64)
        keep = stratum < sizes  # fewer items than restrictions: each item once
        i_tenant, item = i_tenant[keep], item[keep]
        i_country = np.floor(rng.random(len(i_tenant)) * layout.n_countries[i_tenant]).astype(
            np.int64
        )
        tenant = np.concatenate((c_tenant, i_tenant))
        order = np.argsort(tenant, kind="stable")
        n_c = len(c_tenant)
        item_column = pa.concat_arrays([pa.nulls(n_c, pa.string()), self.item_ids(item)]).take(
            pa.array(order)
        )
        names = [c.name for c in CATEGORIES]
        category_column = pa.concat_arrays(
            [
                _lookup(names, layout.categories[c_tenant, category[c_tenant]]),
                pa.nulls(len(i_tenant), pa.string()),
            ]
        ).take(pa.array(order))
        country = np.concatenate(
            (layout.countries[c_tenant, c_country], layout.countries[i_tenant, i_country])
        )[order]
        return self._with_tenant(
            tenant[order],
            {
                "item_id": item_column,
                "category": category_column,
                "country": _lookup(COUNTRIES, country),
                "allowed": _booleans(np.zeros(len(tenant), dtype=bool), typed),
            },
        )

    def consents(self, customers: Columns, rng: np.random.Generator) -> pa.Table:
        n = len(customers["tenant"])
        typed = self.spec.typed("consents")
        end = self.spec.window_end - 1
        created = customers["created"]
        room = np.maximum(0, np.minimum(end, created + 30 * DAY) - created)
        updated = created + np.floor(rng.random(n) * room).astype(np.int64)
        personalization = rng.random(n) >= NO_PERSONALIZATION_SHARE
        marketing = rng.random(n) >= NO_MARKETING_SHARE
        changed = np.flatnonzero(rng.random(n) < CONSENT_CHANGE_SHARE)
        earlier = updated[changed] - rng.integers(DAY, 100 * DAY, len(changed))
        index = np.concatenate((np.arange(n), changed))
        key = np.concatenate((np.arange(n) * 2 + 1, changed * 2))  # the older row first
        order = np.argsort(key, kind="stable")
        index = index[order]
        return self._with_tenant(
            customers["tenant"][index],
            {
                "customer_id": self.customer_ids(customers["customer"][index]),
                "personalization": _booleans(
                    np.concatenate((personalization, ~personalization[changed]))[order], typed
                ),
                "marketing": _booleans(
                    np.concatenate((marketing, marketing[changed]))[order], typed
                ),
                "updated_at": _timestamps(np.concatenate((updated, earlier))[order], typed),
            },
        )

    def erasure_requests(self, customers: Columns, rng: np.random.Generator) -> pa.Table:
        # At least one per tenant, so that every tenant's erasure can be tested.
        quota = np.maximum(1, np.rint(self.layout.customers * ERASURE_SHARE)).astype(np.int64)
        tenant = customers["tenant"]
        chosen = _within_quota(tenant, rng.random(len(tenant)), quota)
        end = self.spec.window_end - 1
        requested = end - rng.integers(0, 30 * DAY, len(chosen))
        requested = np.minimum(end, np.maximum(requested, customers["created"][chosen] + 3600))
        return self._with_tenant(
            customers["tenant"][chosen],
            {
                "customer_id": self.customer_ids(customers["customer"][chosen]),
                "requested_at": _timestamps(requested, self.spec.typed("erasure_requests")),
            },
        )

    def planted_customers(self, customers: Columns) -> pa.Table:
        """Ground truth: segment, preferred categories and repeat interval of every customer."""
        layout = self.layout
        names = [c.name for c in CATEGORIES]
        labels = [
            "|".join(
                names[layout.categories[t, layout.preferred[t, s, j]]]
                for j in range(layout.n_preferred[t, s])
            )
            for t in range(layout.n_tenants)
            for s in range(MAX_SEGMENTS)
        ]
        tenant, segment = customers["tenant"], customers["segment"]
        tenant_ids = (
            self.tenant_ids(tenant)
            if self.spec.tenant_id_column
            else pa.array([DEFAULT_TENANT] * len(tenant))
        )
        return pa.table(
            {
                "tenant_id": tenant_ids,
                "customer_id": self.customer_ids(customers["customer"]),
                "segment": pa.array(segment),
                "preferred_categories": _lookup(labels, tenant * MAX_SEGMENTS + segment),
                "repeat_interval_days": pa.array(np.round(customers["interval"], 1)),
            }
        )


def _id_strings(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """``<prefix><number + 1, zero-padded>`` per row; -1 becomes the empty string."""
    top = int(numbers.max()) + 1 if len(numbers) else 0
    dictionary = [""] + [f"{prefix}{i + 1:0{width}d}" for i in range(top)]
    return _lookup(dictionary, numbers + 1)


def _lookup(values: Sequence[str], index: np.ndarray) -> pa.Array:
    return pa.array(values, pa.string()).take(pa.array(np.asarray(index, dtype=np.int64)))


def _override(values: pa.Array, codes: np.ndarray | None, texts: Sequence[str]) -> pa.Array:
    """Text ``texts[code - 1]`` where ``codes`` > 0, else the value."""
    if codes is None or not codes.any():
        return values
    index = np.arange(len(values), dtype=np.int64)
    bad = codes > 0
    index[bad] = len(values) + codes[bad] - 1
    return pa.concat_arrays([values, pa.array(texts, pa.string())]).take(pa.array(index))


def _timestamps(
    seconds: np.ndarray,
    typed: bool,
    codes: np.ndarray | None = None,
    texts: Sequence[str] = (),
) -> pa.Array:
    if typed:
        return pa.array(seconds * 1_000_000, pa.timestamp("us"))
    text = pc.cast(pa.array(seconds, pa.timestamp("s")), pa.string())
    return _override(text, codes, texts)


def _dates(
    days: np.ndarray, typed: bool, codes: np.ndarray | None = None, texts: Sequence[str] = ()
) -> pa.Array:
    values = pa.array(days.astype(np.int32), pa.date32())
    return values if typed else _override(pc.cast(values, pa.string()), codes, texts)


def _decimals(
    units: np.ndarray,
    per: int,
    typed: bool,
    codes: np.ndarray | None = None,
    texts: Sequence[str] = (),
    null: np.ndarray | None = None,
) -> pa.Array:
    """``units / per`` as a double (or its text); e.g. cents with ``per=100``."""
    values = pa.array(units / per, pa.float64(), mask=null)
    return values if typed else _override(pc.cast(values, pa.string()), codes, texts)


def _integers(
    values: np.ndarray,
    typed: bool,
    null: np.ndarray | None = None,
    codes: np.ndarray | None = None,
    texts: Sequence[str] = (),
) -> pa.Array:
    array = pa.array(values, pa.int64(), mask=null)
    return array if typed else _override(pc.cast(array, pa.string()), codes, texts)


def _booleans(values: np.ndarray, typed: bool) -> pa.Array:
    array = pa.array(values, pa.bool_())
    return array if typed else pc.cast(array, pa.string())


def _width(minimum: int, *numbers: np.ndarray) -> int:
    top = max((int(n.max()) + 1 for n in numbers if len(n)), default=0)
    return max(minimum, len(str(top)))


def _write(table: pa.Table, path: Path, fmt: Format) -> None:
    if fmt == "parquet":
        pq.write_table(table, path, compression="zstd")
    else:
        pacsv.write_csv(table, path)


def _warn_about_stale_files(out: Path, written: set[str], fmt: Format) -> None:
    """Input files in ``out`` that this run did not write would be loaded with the new ones."""
    for table in TABLES:
        for ext in ("parquet", "csv"):
            path = out / f"{table.name}.{ext}"
            if path.exists() and not (table.name in written and ext == fmt):
                logger.warning(
                    "%s was not written by this run; remove it before loading %s", path, out
                )


# --------------------------------------------------------------------------- sampling


def _offsets(sizes: np.ndarray) -> np.ndarray:
    """Start of each group and the total: ``[0, s0, s0 + s1, ...]``."""
    return np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)


def _pick_weighted(
    cumulative: np.ndarray, lo: np.ndarray, hi: np.ndarray, u: np.ndarray
) -> np.ndarray:
    """Per draw, an index in ``[lo, hi)`` with probability proportional to its weight.

    ``cumulative`` is the running sum of all weights; ``u`` is uniform in [0, 1).
    """
    base = np.where(lo > 0, cumulative[np.maximum(lo - 1, 0)], 0.0)
    total = cumulative[hi - 1] - base
    index = np.searchsorted(cumulative, base + u * total, side="right")
    return np.clip(index, lo, hi - 1)


def _pick_category(layout: _Layout, tenant: np.ndarray, u: np.ndarray) -> np.ndarray:
    """A local category of each tenant, in proportion to the category weights."""
    cumulative = np.cumsum(layout.category_weights.ravel())
    lo = tenant * MAX_CATEGORIES
    picked = _pick_weighted(cumulative, lo, lo + layout.n_categories[tenant], u)
    return picked - lo


def _pick_item(
    layout: _Layout, items: Columns, tenant: np.ndarray, category: np.ndarray, u: np.ndarray
) -> np.ndarray:
    """A local item of the tenant's category, Zipf-like: the r-th item with probability ~1/r."""
    group = items["tenant"] * MAX_CATEGORIES + items["category"]
    by_group = np.lexsort((items["popularity"], group))
    sizes = np.bincount(group, minlength=layout.n_tenants * MAX_CATEGORIES)
    starts = _offsets(sizes)
    g = tenant * MAX_CATEGORIES + category
    rank = np.minimum(_zipf_index(u, sizes[g]), sizes[g] - 1)
    return by_group[starts[g] + rank] - layout.item_offsets[tenant]


def _zipf_index(u: np.ndarray, n: np.ndarray | int) -> np.ndarray:
    """Index in ``0 .. n-1`` with probability about proportional to 1 / (index + 1)."""
    return (np.floor(np.power(np.asarray(n) + 1.0, u)) - 1).astype(np.int64)


def _day_weights(spec: GenerationSpec) -> np.ndarray:
    """(categories, days) relative intensity: weekday x yearly season x category season."""
    first_day = spec.window_start // DAY
    epoch_days = np.arange(first_day, first_day + spec.days)
    dates = epoch_days.astype("datetime64[D]")
    day_of_year = (dates - dates.astype("datetime64[Y]")).astype(np.int64) + 1
    weekday = (epoch_days + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    angle = 2 * np.pi / 365.25
    base = np.asarray(WEEKDAY_WEIGHTS)[weekday] * (
        1 + YEARLY_AMPLITUDE * np.cos(angle * (day_of_year - YEARLY_PEAK_DAY))
    )
    rows = []
    for category in CATEGORIES:
        season = 1.0
        if category.peak_day_of_year is not None:
            season = 1 + SEASONAL_AMPLITUDE * np.cos(
                angle * (day_of_year - category.peak_day_of_year)
            )
        rows.append(base * season)
    return np.array(rows)


def _sample_days(spec: GenerationSpec, pool_category: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Day of the window (0-based) for each draw, following its category's day weights."""
    weights = _day_weights(spec)
    cdf = np.cumsum(weights, axis=1)
    cdf = cdf / cdf[:, -1:] + np.arange(len(CATEGORIES))[:, None]
    day = np.searchsorted(cdf.ravel(), pool_category + u, side="right") - pool_category * spec.days
    return np.clip(day, 0, spec.days - 1)


def _sample_seconds_of_day(rng: np.random.Generator, n: int) -> np.ndarray:
    cdf = np.cumsum(HOUR_WEIGHTS) / np.sum(HOUR_WEIGHTS)
    hour = np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), 23)
    return hour * 3600 + rng.integers(0, 3600, n)


def _choose(rng: np.random.Generator, n: int, p: Sequence[float]) -> np.ndarray:
    return np.minimum(np.searchsorted(np.cumsum(p), rng.random(n), side="right"), len(p) - 1)


# --------------------------------------------------------------------------- column helpers


def _take(columns: Columns, index: np.ndarray) -> Columns:
    return {k: v[index] for k, v in columns.items()}


def _concat(a: Columns, b: Columns) -> Columns:
    """Rows of ``a`` then rows of ``b`` (in ``a``'s column types; values always fit)."""
    return {k: np.concatenate((a[k], b[k].astype(a[k].dtype, copy=False))) for k in a if k in b}


def _rank_within(group: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... within each group value, in order of appearance."""
    order = np.argsort(group, kind="stable")
    sorted_group = group[order]
    rank = np.empty(len(group), dtype=np.int64)
    rank[order] = np.arange(len(group)) - np.searchsorted(sorted_group, sorted_group, "left")
    return rank


def _within_quota(group: np.ndarray, priority: np.ndarray, quota: np.ndarray) -> np.ndarray:
    """Indices of the rows kept when each group keeps its ``quota`` rows of lowest priority."""
    order = np.lexsort((priority, group))
    sorted_group = group[order]
    rank = np.arange(len(group)) - np.searchsorted(sorted_group, sorted_group, "left")
    return np.sort(order[rank < quota[sorted_group]])
