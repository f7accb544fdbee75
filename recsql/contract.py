"""The input contract: which files recsql reads, their columns, and why a row is rejected.

This module is the single definition of the contract. The file loader
(:mod:`recsql.build.inputs`), the data generator, the dbt sources and the user documentation
(``docs/contract.md``) all follow it, and tests check that they agree.

Every table is tenant-aware: ``tenant_id`` may be omitted by a single-tenant user, in which
case every row belongs to the tenant ``'default'``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

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

#: The HTTP API's event log (``recsql serve``) is more rows of this table, read by every build
#: that publishes to the database it serves, from :func:`events_directory`.
EVENTS_TABLE = "interactions"
#: The columns of the event log's files, in order: the interactions columns events carry.
EVENT_LOG_COLUMNS = ("tenant_id", "customer_id", "item_id", "occurred_at", "event_type", "quantity")


def events_directory(db_path: Path | str) -> Path:
    """The HTTP API's event log for the served database ``db_path``: ``<db>.events/``, CSV
    files of :data:`EVENT_LOG_COLUMNS` that the next build reads as interactions."""
    db_path = Path(db_path)
    return db_path.with_name(db_path.name + ".events")


#: Tenant modes (docs/lifecycle.md): ``on`` retrains when a trigger fires, ``freeze`` never
#: retrains and scores today's histories with its active version, ``off`` serves nothing.
TENANT_MODES = ("on", "freeze", "off")

ALGORITHMS = ("auto", "popularity", "cooccurrence", "als", "ease")


SettingValue = str | int | float


@dataclass(frozen=True)
class Setting:
    """A per-tenant setting: a column of the ``tenants`` input, and its one definition.

    Staging checks a tenant's value against it and ``tenant_settings`` applies its default,
    both through ``macros/tenant_setting_definitions.sql``, which is generated from it
    (:func:`write_generated`); the settings table of ``docs/contract.md`` is generated from it
    too; and the algorithms accept every value it allows (tests/test_contract.py).

    A value must parse as the setting's type (an integer setting rejects ``2.5``) and lie in
    its choices or its range; an empty value takes the default.
    """

    name: str
    #: STRING, INTEGER or NUMBER.
    type: ColumnType
    #: ``None``: no default (the setting is off unless given).
    default: SettingValue | None
    description: str
    #: The allowed values of a string setting (compared in lower case).
    choices: tuple[str, ...] | None = None
    minimum: int | float | None = None
    maximum: int | float | None = None
    #: The minimum itself is not allowed: the value must be greater than it.
    minimum_exclusive: bool = False
    #: Another setting this one may not be below (``candidates_n`` >= ``k``), each taken
    #: with its default where the tenant leaves it empty.
    at_least: str | None = None

    def __post_init__(self) -> None:
        if self.type not in (ColumnType.STRING, ColumnType.INTEGER, ColumnType.NUMBER):
            raise ValueError(f"setting {self.name}: unsupported type {self.type}")
        if (self.choices is not None) != (self.type == ColumnType.STRING):
            raise ValueError(f"setting {self.name}: choices are for (and required by) strings")
        if self.default is not None and not self.allows(self.default):
            raise ValueError(f"setting {self.name}: the default {self.default!r} is not allowed")

    def allows(self, value: SettingValue) -> bool:
        """Whether ``value`` (already of the setting's type) is allowed, on its own."""
        if self.choices is not None:
            return isinstance(value, str) and value in self.choices
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if not math.isfinite(value):
            return False
        if self.type == ColumnType.INTEGER and value != int(value):
            return False
        if self.minimum is not None and (
            value < self.minimum or (self.minimum_exclusive and value == self.minimum)
        ):
            return False
        return self.maximum is None or value <= self.maximum

    @property
    def allowed(self) -> str:
        """The allowed values in words, as docs/contract.md shows them."""
        if self.choices is not None:
            return ", ".join(f"`{c}`" for c in self.choices)
        low = f"`{self.at_least}`" if self.at_least else _number(self.minimum)
        if self.minimum_exclusive:
            low_text = f"> {low}"
            return low_text if self.maximum is None else f"{low_text}, <= {_number(self.maximum)}"
        if self.minimum is None and self.at_least is None:
            return "any number" if self.maximum is None else f"<= {_number(self.maximum)}"
        return f">= {low}" if self.maximum is None else f"{low}..{_number(self.maximum)}"


def _number(value: int | float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else str(value)


SIMILARITIES = ("jaccard", "lift", "cosine", "count")

NO_CONSENT_LISTS = ("popular", "nothing")

TENANT_SETTINGS: tuple[Setting, ...] = (
    Setting(
        "mode",
        ColumnType.STRING,
        "on",
        "`on`: retrained when a trigger fires (the `retrain_*` settings), else served by its "
        "active version on today's histories; `freeze`: never retrained, served by its active "
        "version (trained once if it has none); `off`: nothing trained or served (and no input "
        "needed). docs/lifecycle.md",
        choices=TENANT_MODES,
    ),
    Setting(
        "k",
        ColumnType.INTEGER,
        10,
        "length of each served list",
        minimum=1,
        maximum=1000,
    ),
    Setting(
        "algorithm",
        ColumnType.STRING,
        "auto",
        "`auto`: the champion of the offline evaluation; or force one algorithm",
        choices=ALGORITHMS,
    ),
    Setting(
        "half_life_days",
        ColumnType.NUMBER,
        30,
        "half-life of the time decay of interactions, in days",
        minimum=0,
        minimum_exclusive=True,
    ),
    Setting(
        "holdout_days",
        ColumnType.NUMBER,
        30,
        "offline evaluation: test on the tenant's last this many days, train on what came before",
        minimum=0,
        minimum_exclusive=True,
    ),
    Setting(
        "evaluation_customers",
        ColumnType.INTEGER,
        20000,
        "offline evaluation: at most this many customers are scored (of those who bought "
        "before and in the holdout window), the same sample by a hash of their id in every "
        "build: the NDCG of 20,000 customers is within about 0.004 of all of them, and scoring "
        "every customer of a large tenant takes minutes (docs/engine.md)",
        minimum=1,
        maximum=100_000_000,
    ),
    Setting(
        "candidates_n",
        ColumnType.INTEGER,
        50,
        "candidates per customer and algorithm, before rules; at least `k`",
        minimum=1,
        maximum=1000,
        at_least="k",
    ),
    Setting(
        "history_cap",
        ColumnType.INTEGER,
        50,
        "co-occurrence reads each customer's most recent this many distinct items",
        minimum=1,
        maximum=1000,
    ),
    Setting(
        "similarity",
        ColumnType.STRING,
        "jaccard",
        "co-occurrence similarity",
        choices=SIMILARITIES,
    ),
    Setting(
        "min_support",
        ColumnType.INTEGER,
        2,
        "co-occurrence: minimum number of customers who bought both items",
        minimum=1,
        maximum=1_000_000,
    ),
    Setting(
        "similar_items_n",
        ColumnType.INTEGER,
        50,
        "similar items kept per item",
        minimum=1,
        maximum=1000,
    ),
    Setting(
        "trending_days",
        ColumnType.INTEGER,
        7,
        "trending: the recent window, in days",
        minimum=1,
        maximum=3650,
    ),
    Setting(
        "trending_baseline_days",
        ColumnType.INTEGER,
        56,
        "trending: the baseline window before the recent one, in days",
        minimum=1,
        maximum=3650,
    ),
    Setting(
        "als_factors",
        ColumnType.INTEGER,
        32,
        "ALS: latent factors",
        minimum=1,
        maximum=1024,
    ),
    Setting(
        "als_regularization",
        ColumnType.NUMBER,
        0.05,
        "ALS: L2 regularization of the factors (implicit's `regularization`)",
        minimum=0,
        minimum_exclusive=True,
    ),
    Setting(
        "als_alpha",
        ColumnType.NUMBER,
        10,
        "ALS: the confidence of an interaction is alpha x affinity (implicit's convention)",
        minimum=0,
        minimum_exclusive=True,
    ),
    Setting(
        "als_iterations",
        ColumnType.INTEGER,
        15,
        "ALS: iterations",
        minimum=1,
        maximum=100,
    ),
    Setting(
        "ease_lambda",
        ColumnType.NUMBER,
        500,
        "EASE: L2 regularization",
        minimum=0,
        minimum_exclusive=True,
    ),
    Setting(
        "ease_max_items",
        ColumnType.INTEGER,
        15000,
        "EASE is fitted on at most this many items: on a larger catalogue, those the most "
        "customers interacted with (its time grows with the cube of its items, its memory with "
        "the square: docs/engine.md)",
        minimum=1,
        maximum=100_000,
    ),
    Setting(
        "no_consent_list",
        ColumnType.STRING,
        "popular",
        "what a customer without personalization consent gets: `popular` (popular allowed "
        "items in their country) or `nothing`",
        choices=NO_CONSENT_LISTS,
    ),
    Setting(
        "sustainability_nudge",
        ColumnType.NUMBER,
        0,
        "raise the score of items greener than what the customer usually buys by this share "
        "(0.2 = +20 %; 0 = off)",
        minimum=0,
    ),
    Setting(
        "nothing_threshold",
        ColumnType.NUMBER,
        None,
        "recommend nothing rather than a weak list: a customer whose best personalized "
        "candidate scores below this gets no discover list (empty = off)",
    ),
    Setting(
        "ease_neighbours",
        ColumnType.INTEGER,
        None,
        "EASE: the largest weights kept per item, what its version stores and serves from "
        "(empty: 2 % of the items it is fitted on, at least 100)",
        minimum=1,
        maximum=100_000,
    ),
    Setting(
        "retrain_every_days",
        ColumnType.NUMBER,
        1,
        "retrain when the active version is at least this many days old (by the build's "
        "as-of clock; 0: every build)",
        minimum=0,
    ),
    Setting(
        "retrain_new_data_share",
        ColumnType.NUMBER,
        0.1,
        "retrain when the interactions since the active version's data make at least this "
        "share of the interactions it was trained on",
        minimum=0,
        maximum=1,
    ),
    Setting(
        "retrain_drift",
        ColumnType.NUMBER,
        0.3,
        "retrain when the item popularity of the last `trending_days` is at least this far "
        "(total variation distance, 0..1) from that of the active version's data",
        minimum=0,
        maximum=1,
    ),
    Setting(
        "keep_versions",
        ColumnType.INTEGER,
        5,
        "stored models kept per tenant besides the active and pinned ones; older versions "
        "are retired (their registry rows stay)",
        minimum=1,
        maximum=1000,
    ),
    Setting(
        "promotion_min_customers",
        ColumnType.INTEGER,
        50,
        "a candidate version is judged against the active one once at least this many "
        "customers bought something after its data",
        minimum=1,
    ),
    Setting(
        "promotion_margin",
        ColumnType.NUMBER,
        0,
        "a judged candidate becomes active when its NDCG@k beats the active version's by "
        "more than this (0: any gain; a tie keeps the active)",
        minimum=0,
        maximum=1,
    ),
    Setting(
        "min_accepted_share",
        ColumnType.NUMBER,
        0.5,
        "the build fails when less than this share of the tenant's `interactions` rows, or of "
        "its `items` rows, is accepted (0: only when none is)",
        minimum=0,
        maximum=1,
    ),
    Setting(
        "new_item_days",
        ColumnType.NUMBER,
        30,
        "`new_for_you` offers items launched (`launched_at`) in this many days before the "
        "build's clock, or, without a launch date, that nobody has bought yet "
        "(docs/engine.md#new-items-for-you)",
        minimum=0,
        minimum_exclusive=True,
    ),
)

TENANT_SETTINGS_BY_NAME: dict[str, Setting] = {s.name: s for s in TENANT_SETTINGS}


def _text(value: SettingValue | None) -> str | None:
    """A setting's value as the tenants file would hold it."""
    return None if value is None else str(value)


def default_settings() -> dict[str, SettingValue | None]:
    """The settings of a tenant that sets none: a row of ``tenant_settings``."""
    return {s.name: s.default for s in TENANT_SETTINGS}


TENANTS = Table(
    name="tenants",
    required=False,
    grain="One row per tenant.",
    columns=(
        Column("tenant_id", ColumnType.STRING, True, "The tenant."),
        *(Column(s.name, s.type, False, s.description, _text(s.default)) for s in TENANT_SETTINGS),
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
                "When it happened. ISO 8601 (an offset is converted to UTC, no offset means "
                "UTC), or whole seconds, milliseconds, microseconds or nanoseconds since 1970 "
                "(by magnitude, 1990 to 2100). Not more than a day after the build started.",
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
            Column(
                "launched_at",
                ColumnType.TIMESTAMP,
                False,
                "When the item was launched (`new_for_you` offers recent launches).",
            ),
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
    INVALID_ENCODING = "invalid encoding"
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


# --------------------------------------------------------------------------- generated files
#
# The dbt models and the docs read the settings from files generated from TENANT_SETTINGS:
# `python -m recsql.contract` rewrites them, and tests/test_contract.py fails while they differ
# from what it would write.

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SETTINGS_MACRO = PROJECT_ROOT / "macros" / "tenant_setting_definitions.sql"
CONTRACT_DOCS = PROJECT_ROOT / "docs" / "contract.md"
_TABLE_START = (
    "<!-- tenants table: generated from recsql/contract.py by python -m recsql.contract -->"
)
_TABLE_END = "<!-- end of the generated tenants table -->"


def _jinja(value: object) -> str:
    """A Python value as a Jinja literal."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_jinja(v) for v in value) + "]"
    raise TypeError(f"no Jinja literal for {value!r}")


def settings_macro() -> str:
    """``macros/tenant_setting_definitions.sql``: the settings, for the dbt models."""
    entries = []
    for s in TENANT_SETTINGS:
        entries.append(
            "        {\n"
            f"            'name': {_jinja(s.name)}, 'type': {_jinja(s.type.value)}, "
            f"'default': {_jinja(s.default)},\n"
            f"            'choices': {_jinja(s.choices)},\n"
            f"            'minimum': {_jinja(s.minimum)}, 'maximum': {_jinja(s.maximum)}, "
            f"'minimum_exclusive': {_jinja(s.minimum_exclusive)},\n"
            f"            'at_least': {_jinja(s.at_least)},\n"
            "        },\n"
        )
    return (
        "{#- Generated from recsql/contract.py (TENANT_SETTINGS) by `python -m recsql.contract`:\n"
        "    edit the contract, not this file. The tenant settings in contract order: name, type\n"
        "    (string, integer, number), default (none: empty), choices (strings), minimum,\n"
        "    maximum, minimum_exclusive (the value must be greater than the minimum) and\n"
        "    at_least (another setting this one may not be below). -#}\n"
        "{% macro tenant_setting_definitions() -%}\n"
        "    {{ return([\n" + "".join(entries) + "    ]) }}\n"
        "{%- endmacro %}\n"
    )


def _markdown_default(setting: Setting) -> str:
    if setting.default is None:
        return "(none)"
    if isinstance(setting.default, str):
        return f"`{setting.default}`"
    return _number(setting.default)


def settings_table() -> str:
    """The table of the tenants input in ``docs/contract.md``, with its markers."""
    rows = [
        _TABLE_START,
        "| column | type | default | allowed | meaning |",
        "|---|---|---|---|---|",
        "| tenant_id | string | | | the tenant |",
        *(
            f"| {s.name}? | {s.type.value} | {_markdown_default(s)} | {s.allowed} | "
            f"{s.description} |"
            for s in TENANT_SETTINGS
        ),
        _TABLE_END,
    ]
    return "\n".join(rows) + "\n"


def docs_with_settings_table(docs: str) -> str:
    """``docs`` (docs/contract.md) with its generated tenants table replaced by today's."""
    start, end = docs.find(_TABLE_START), docs.find(_TABLE_END)
    if start < 0 or end < start:
        raise ValueError(f"docs/contract.md lacks the markers {_TABLE_START!r} ... {_TABLE_END!r}")
    return docs[:start] + settings_table() + docs[end + len(_TABLE_END) + 1 :]


def write_generated() -> list[Path]:
    """Rewrite the files generated from the contract; return those that changed."""
    changed = []
    for path, text in (
        (SETTINGS_MACRO, settings_macro()),
        (CONTRACT_DOCS, docs_with_settings_table(CONTRACT_DOCS.read_text())),
    ):
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            changed.append(path)
    return changed


if __name__ == "__main__":
    for written in write_generated():
        print(f"wrote {written.relative_to(PROJECT_ROOT)}")
