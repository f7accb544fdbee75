"""The input contract: which files recsql reads, their columns, and why a row is rejected.

This module is the single definition of the contract. The file loader
(:mod:`recsql.build.inputs`), the data generator, the dbt sources and the user documentation
(``docs/contract.md``) all follow it, and tests check that they agree.

Every table is tenant-aware: ``tenant_id`` may be omitted by a single-tenant user, in which
case every row belongs to the tenant ``'default'``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

DEFAULT_TENANT = "default"


class ColumnType(StrEnum):
    """Logical column types of the contract (what staging casts the text to)."""

    STRING = "string"
    TIMESTAMP = "timestamp"
    DATE = "date"
    NUMBER = "number"
    INTEGER = "integer"
    BOOLEAN = "boolean"


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    required: bool
    description: str
    default: str | None = None


@dataclass(frozen=True)
class Table:
    name: str
    required: bool
    grain: str
    columns: tuple[Column, ...]
    #: Extra columns are kept (as rule attributes) instead of being ignored.
    keeps_extra_columns: bool = False
    #: Extra columns are an error (a misspelt setting must not pass silently).
    rejects_extra_columns: bool = False
    #: At least one of these columns must be present in the file.
    one_of: tuple[str, ...] = field(default_factory=tuple)
    #: Names an extra column may not have: recsql derives columns of these names.
    reserved: tuple[str, ...] = field(default_factory=tuple)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


def _tenant(required: bool = False) -> Column:
    return Column(
        "tenant_id",
        ColumnType.STRING,
        required,
        "The client company the row belongs to. Omit the column for a single tenant.",
        None if required else DEFAULT_TENANT,
    )


#: Event types and the order of their weight (the weights themselves are the seed
#: ``seeds/event_types.csv``, which analysts may edit).
EVENT_TYPES = ("view", "click", "cart", "purchase", "return")

#: Tenant modes: ``on`` builds and serves, ``freeze`` serves the last lists without
#: retraining, ``off`` serves nothing.
TENANT_MODES = ("on", "freeze", "off")

ALGORITHMS = ("auto", "popularity", "cooccurrence", "als", "ease")


@dataclass(frozen=True)
class Setting:
    """A per-tenant setting: a column of the ``tenants`` input and of the defaults seed."""

    name: str
    type: ColumnType
    default: str
    description: str
    #: Allowed values for a string setting; ``None`` means any.
    choices: tuple[str, ...] | None = None


SIMILARITIES = ("jaccard", "lift", "cosine", "count")

NO_CONSENT_LISTS = ("popular", "nothing")

TENANT_SETTINGS: tuple[Setting, ...] = (
    Setting(
        "mode",
        ColumnType.STRING,
        "on",
        "on: build and serve; freeze: keep serving the last lists; off: serve nothing.",
        TENANT_MODES,
    ),
    Setting("k", ColumnType.INTEGER, "10", "Length of each served list (1..1000)."),
    Setting(
        "algorithm",
        ColumnType.STRING,
        "auto",
        "auto: the champion of the offline evaluation; or force one algorithm.",
        ALGORITHMS,
    ),
    Setting(
        "half_life_days",
        ColumnType.NUMBER,
        "30",
        "Half-life of the time decay of interactions, in days (> 0).",
    ),
    Setting(
        "holdout_days",
        ColumnType.NUMBER,
        "30",
        "Offline evaluation: train on what came "
        "before the tenant's last this many days, test on those days (> 0).",
    ),
    Setting(
        "candidates_n",
        ColumnType.INTEGER,
        "50",
        "Candidates per customer and algorithm, before rules (>= k, at most 1000).",
    ),
    Setting(
        "history_cap",
        ColumnType.INTEGER,
        "50",
        "Co-occurrence reads each customer's most recent this many distinct items (1..1000).",
    ),
    Setting("similarity", ColumnType.STRING, "jaccard", "Co-occurrence similarity.", SIMILARITIES),
    Setting(
        "min_support",
        ColumnType.INTEGER,
        "2",
        "Co-occurrence: minimum number of customers who bought both items (>= 1).",
    ),
    Setting("similar_items_n", ColumnType.INTEGER, "50", "Similar items kept per item (1..1000)."),
    Setting(
        "trending_days", ColumnType.INTEGER, "7", "Trending: the recent window, in days (>= 1)."
    ),
    Setting(
        "trending_baseline_days",
        ColumnType.INTEGER,
        "56",
        "Trending: the baseline window before the recent one, in days (>= 1).",
    ),
    Setting("als_factors", ColumnType.INTEGER, "64", "ALS: latent factors (1..1024)."),
    Setting("als_regularization", ColumnType.NUMBER, "0.05", "ALS: L2 regularization (>= 0)."),
    Setting(
        "als_alpha",
        ColumnType.NUMBER,
        "10",
        "ALS: the confidence of an interaction is alpha x affinity (> 0).",
    ),
    Setting("als_iterations", ColumnType.INTEGER, "15", "ALS: iterations (1..100)."),
    Setting("ease_lambda", ColumnType.NUMBER, "500", "EASE: L2 regularization (> 0)."),
    Setting(
        "ease_max_items",
        ColumnType.INTEGER,
        "20000",
        "EASE runs only for tenants with at "
        "most this many items (its memory grows with the square).",
    ),
    Setting(
        "no_consent_list",
        ColumnType.STRING,
        "popular",
        "What a customer without personalization consent gets: popular allowed items in their "
        "country, or nothing.",
        NO_CONSENT_LISTS,
    ),
    Setting(
        "sustainability_nudge",
        ColumnType.NUMBER,
        "0",
        "Raise the score of items greener than what the customer usually buys by this share "
        "(0.2 = +20%; 0 = off; >= 0).",
    ),
    Setting(
        "nothing_threshold",
        ColumnType.NUMBER,
        "",
        "Recommend nothing rather than a weak list: a customer whose best personalized "
        "candidate scores below this gets no discover list (empty = off).",
    ),
)

TENANTS = Table(
    name="tenants",
    required=False,
    grain="One row per tenant.",
    columns=(
        Column("tenant_id", ColumnType.STRING, True, "The tenant."),
        *(Column(s.name, s.type, False, s.description, s.default) for s in TENANT_SETTINGS),
    ),
    rejects_extra_columns=True,
)

TABLES: tuple[Table, ...] = (
    Table(
        name="interactions",
        required=True,
        grain="One row per event: a customer (or a guest session) did something with an item.",
        columns=(
            _tenant(),
            Column(
                "customer_id",
                ColumnType.STRING,
                True,
                "The customer. May be empty for a guest event that has a session_id: it then "
                "counts towards item popularity but creates no customer.",
            ),
            Column("item_id", ColumnType.STRING, True, "The item; must exist in items."),
            Column(
                "occurred_at",
                ColumnType.TIMESTAMP,
                True,
                "When it happened. ISO 8601; an offset is converted to UTC, no offset means "
                "UTC. Not more than a day after the build started.",
            ),
            Column(
                "event_type",
                ColumnType.STRING,
                False,
                "One of view, click, cart, purchase, return (case-insensitive).",
                "purchase",
            ),
            Column(
                "quantity",
                ColumnType.NUMBER,
                False,
                "Units, > 0. A negative quantity on a return is read as its magnitude.",
                "1",
            ),
            Column("value", ColumnType.NUMBER, False, "Revenue of the event, if known."),
            Column("session_id", ColumnType.STRING, False, "Visit, basket or invoice id."),
        ),
    ),
    Table(
        name="items",
        required=True,
        grain="One row per tenant and item.",
        columns=(
            _tenant(),
            Column("item_id", ColumnType.STRING, True, "The item."),
            Column("name", ColumnType.STRING, False, "Display name, used in explanations."),
            Column("category", ColumnType.STRING, False, "Category (rules, caps, restrictions)."),
            Column("brand", ColumnType.STRING, False, "Brand."),
            Column("price", ColumnType.NUMBER, False, "Unit price, >= 0."),
            Column(
                "is_active",
                ColumnType.BOOLEAN,
                False,
                "false: history only, never recommended.",
                "true",
            ),
            Column("min_age", ColumnType.INTEGER, False, "Minimum customer age, >= 0."),
            Column("sustainability_score", ColumnType.NUMBER, False, "0..1, higher is greener."),
            Column("launched_at", ColumnType.TIMESTAMP, False, "When the item was launched."),
        ),
        keeps_extra_columns=True,
    ),
    Table(
        name="customers",
        required=False,
        grain="One row per tenant and customer. Extra columns are kept as attributes for rules.",
        columns=(
            _tenant(),
            Column("customer_id", ColumnType.STRING, True, "The customer."),
            Column("country", ColumnType.STRING, False, "Country (geo rules, popularity)."),
            Column("birth_date", ColumnType.DATE, False, "Birth date (age limits)."),
            Column("created_at", ColumnType.TIMESTAMP, False, "When the customer signed up."),
        ),
        keeps_extra_columns=True,
        reserved=("age", "flags", "has_personalization_consent", "has_marketing_consent"),
    ),
    Table(
        name="customer_flags",
        required=False,
        grain="One row per tenant, customer and flag.",
        columns=(
            _tenant(),
            Column("customer_id", ColumnType.STRING, True, "The customer."),
            Column("flag", ColumnType.STRING, True, "A flag such as no_alcohol or vulnerable."),
        ),
    ),
    Table(
        name="item_restrictions",
        required=False,
        grain="One row per tenant, item (or category) and country: geo entitlement.",
        columns=(
            _tenant(),
            Column(
                "item_id", ColumnType.STRING, False, "The item; or leave empty and give a category."
            ),
            Column("category", ColumnType.STRING, False, "A whole category."),
            Column("country", ColumnType.STRING, True, "Country the entitlement applies to."),
            Column("allowed", ColumnType.BOOLEAN, True, "false: not to be offered there."),
        ),
        one_of=("item_id", "category"),
    ),
    Table(
        name="consents",
        required=False,
        grain="One row per consent change; the latest per customer applies.",
        columns=(
            _tenant(),
            Column("customer_id", ColumnType.STRING, True, "The customer."),
            Column(
                "personalization",
                ColumnType.BOOLEAN,
                True,
                "false: no personalized recommendations.",
            ),
            Column("marketing", ColumnType.BOOLEAN, True, "false: left out of push lists."),
            Column("updated_at", ColumnType.TIMESTAMP, False, "When the consent was given."),
        ),
    ),
    Table(
        name="erasure_requests",
        required=False,
        grain="One row per request to be forgotten.",
        columns=(
            _tenant(),
            Column("customer_id", ColumnType.STRING, True, "The customer to forget."),
            Column("requested_at", ColumnType.TIMESTAMP, True, "When it was requested."),
        ),
    ),
    Table(
        name="rules",
        required=False,
        grain="One row per tenant and rule.",
        columns=(
            Column(
                "tenant_id",
                ColumnType.STRING,
                False,
                "The tenant, or '*' for every tenant.",
                DEFAULT_TENANT,
            ),
            Column("rule_id", ColumnType.STRING, True, "Identifies the rule in the tenant."),
            Column(
                "action", ColumnType.STRING, True, "exclude, include_only, boost, cap or nothing."
            ),
            Column(
                "customer_condition",
                ColumnType.STRING,
                False,
                "SQL boolean expression over customer columns; empty matches everyone.",
            ),
            Column(
                "item_condition",
                ColumnType.STRING,
                False,
                "SQL boolean expression over item columns; empty matches every item.",
            ),
            Column("value", ColumnType.NUMBER, False, "Boost factor or cap size."),
            Column("reason", ColumnType.STRING, True, "Why the rule exists (shown in reports)."),
            Column("enabled", ColumnType.BOOLEAN, False, "false: the rule is ignored.", "true"),
        ),
    ),
    TENANTS,
)

TABLES_BY_NAME: dict[str, Table] = {t.name: t for t in TABLES}


class Reason(StrEnum):
    """Why a row was quarantined. The text is what ``quarantined_rows.reason`` holds.

    A row gets the first reason that applies, in the order of ``docs/contract.md``. Besides
    these, a required value that is missing reads ``empty <column>`` (:func:`empty`), a value
    that does not fit its type ``unparseable <column>`` (:func:`unparseable`), and a bad
    tenant setting ``invalid <setting>`` (:func:`invalid`).
    """

    MALFORMED_LINE = "malformed csv line"
    EMPTY_TENANT_ID = "empty tenant_id"
    UNKNOWN_TENANT = "unknown tenant"
    EMPTY_CUSTOMER_ID = "empty customer_id"
    EMPTY_ITEM_ID = "empty item_id"
    MISSING_ITEM_OR_CATEGORY = "neither item_id nor category"
    FUTURE_TIMESTAMP = "occurred_at in the future"
    FUTURE_BIRTH_DATE = "birth_date in the future"
    UNKNOWN_EVENT_TYPE = "unknown event_type"
    NON_POSITIVE_QUANTITY = "non-positive quantity"
    NEGATIVE_PRICE = "negative price"
    NEGATIVE_MIN_AGE = "negative min_age"
    SCORE_OUT_OF_RANGE = "sustainability_score outside 0..1"
    UNKNOWN_ITEM = "item not in items"
    UNKNOWN_ACTION = "unknown action"
    DUPLICATE_ROW = "duplicate row"
    CONFLICTING_DUPLICATE = "conflicting duplicate key"


def unparseable(column: str) -> str:
    """The quarantine reason for a value that cannot be cast to its column's type."""
    return f"unparseable {column}"


def empty(column: str) -> str:
    """The quarantine reason for a required value that is missing."""
    return f"empty {column}"


def invalid(setting: str) -> str:
    """The quarantine reason for a tenant setting outside its allowed values."""
    return f"invalid {setting}"
