"""Which customers and which items each enabled business rule matches.

Rule conditions are data written by analysts. Every condition first goes through the guard
(:func:`recsql.rules.guard.check_rule`): only what it re-renders from the syntax tree runs, as a
filter on the customers (``customer_profiles``) or the items (``stg_items``) of the rule's
tenant — or of every tenant, for a rule whose tenant_id is ``'*'``. A condition the guard
refuses, or that is not a boolean condition on its table, is a
:class:`recsql.rules.guard.RuleError`: for a rule of every tenant it fails the build before
anything is published; a tenant's own rule is left out and its tenant fails
(``tenant_failures``: it keeps serving its previous lists). An empty condition matches every
customer (or item) of the tenant.

Rules are identified across tenants by their *rule key*, ``<scope>:<rule_id>`` where the scope
is the rule's tenant_id or ``*``: a tenant's own rule and a rule for every tenant may share an
id without being confused.

Conditions are evaluated once per distinct (scope, condition), so thousands of tenants sharing
the same rules cost a handful of queries.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import duckdb
import pyarrow as pa

from recsql.rules.guard import RuleError, check_rule

log = logging.getLogger(__name__)

ALL_TENANTS = "*"
Side = Literal["customer", "item"]


def rule_key(scope: str, rule_id: str) -> str:
    return f"{scope}:{rule_id}"


@dataclass(frozen=True)
class GuardedRule:
    """An enabled rule whose conditions passed the guard, re-rendered."""

    scope: str
    rule_id: str
    action: str
    customer_condition: str | None
    item_condition: str | None

    @property
    def key(self) -> str:
        return rule_key(self.scope, self.rule_id)


def guard_rules(
    rules: Iterable[dict],
    customers: duckdb.DuckDBPyRelation,
    items: duckdb.DuckDBPyRelation,
    refused: list[RuleError] | None = None,
) -> list[GuardedRule]:
    """The enabled rules, with their conditions checked and re-rendered by the guard, and
    checked to be boolean conditions on ``customers`` and ``items`` (the relations they filter).

    ``rules``: rows of ``stg_rules`` (tenant_id, rule_id, action, customer_condition,
    item_condition, is_enabled). A condition that cannot run raises
    :class:`recsql.rules.guard.RuleError` - unless ``refused`` is given and the rule is a
    tenant's own: then the error is appended to ``refused`` and the rule left out (the tenant
    fails the build; a rule for every tenant still stops it).
    """
    guarded = []
    for rule in rules:
        if not rule["is_enabled"]:
            continue
        try:
            customer_sql, item_sql = check_rule(
                rule["tenant_id"],
                rule["rule_id"],
                rule["customer_condition"],
                rule["item_condition"],
                customers.columns,
                items.columns,
            )
            checked = GuardedRule(
                rule["tenant_id"], rule["rule_id"], rule["action"], customer_sql, item_sql
            )
            _check_boolean(customers, checked, "customer")
            _check_boolean(items, checked, "item")
        except RuleError as error:
            if refused is None or rule["tenant_id"] == ALL_TENANTS:
                raise
            log.warning("%s", error)
            refused.append(error)
            continue
        guarded.append(checked)
    return guarded


def _check_boolean(relation: duckdb.DuckDBPyRelation, rule: GuardedRule, side: Side) -> None:
    """Raise :class:`RuleError` unless the rule's condition on ``side`` binds, as a boolean,
    to ``relation`` (no row is read)."""
    condition = rule.customer_condition if side == "customer" else rule.item_condition
    if condition is None:
        return
    try:
        kind = str(relation.project(condition).types[0])
        if kind != "BOOLEAN":
            raise duckdb.Error(f"it is {kind}, not a boolean condition")
    except duckdb.Error as error:
        raise _evaluation_error(rule, side, condition, error) from error


def _evaluation_error(
    rule: GuardedRule, side: Side, condition: str, error: duckdb.Error
) -> RuleError:
    return RuleError(
        rule.scope,
        rule.rule_id,
        f"{side}_condition",
        condition,
        condition,
        f"it cannot be evaluated ({str(error).splitlines()[0]})",
    )


GUARDED_SCHEMA = pa.schema(
    [
        ("rule_key", pa.string()),
        ("scope", pa.string()),
        ("rule_id", pa.string()),
        ("action", pa.string()),
        ("customer_condition", pa.string()),
        ("item_condition", pa.string()),
        # why the guard refused a tenant's rule (its conditions are then NULL: they never run)
        ("refusal", pa.string()),
    ]
)


def to_table(rules: list[GuardedRule], refused: Iterable[RuleError] = ()) -> pa.Table:
    """The guarded rules as a table (``rules_guarded``): what runs, rule by rule, and the
    tenants' rules the guard refused, with why (``refusal``)."""
    refused = list(refused)
    refused_keys = [rule_key(e.tenant_id, e.rule_id) for e in refused]
    return pa.table(
        {
            "rule_key": [r.key for r in rules] + refused_keys,
            "scope": [r.scope for r in rules] + [e.tenant_id for e in refused],
            "rule_id": [r.rule_id for r in rules] + [e.rule_id for e in refused],
            "action": [r.action for r in rules] + [None] * len(refused),
            "customer_condition": [r.customer_condition for r in rules] + [None] * len(refused),
            "item_condition": [r.item_condition for r in rules] + [None] * len(refused),
            "refusal": [None] * len(rules) + [str(e) for e in refused],
        },
        schema=GUARDED_SCHEMA,
    )


def from_table(table: pa.Table) -> list[GuardedRule]:
    """The rules that run (a refused rule never does)."""
    return [
        GuardedRule(
            r["scope"], r["rule_id"], r["action"], r["customer_condition"], r["item_condition"]
        )
        for r in table.to_pylist()
        if r["refusal"] is None
    ]


def match(
    relation: duckdb.DuckDBPyRelation,
    rules: list[GuardedRule],
    side: Side,
    carry: tuple[str, ...] = (),
) -> pa.Table:
    """One row per rule and customer (or item) of ``relation`` its condition matches.

    Returns tenant_id, <side>_id, the ``carry`` columns of ``relation``, rule_key.
    """
    key = f"{side}_id"
    columns = ", ".join(["tenant_id", key, *carry])
    groups: dict[tuple[str, str | None], list[GuardedRule]] = defaultdict(list)
    for rule in rules:
        condition = rule.customer_condition if side == "customer" else rule.item_condition
        groups[(rule.scope, condition)].append(rule)
    tables = []
    for (scope, condition), group in groups.items():
        rows = relation
        if scope != ALL_TENANTS:
            rows = rows.filter(
                duckdb.ColumnExpression("tenant_id") == duckdb.ConstantExpression(scope)
            )
        try:
            if condition is not None:
                # The guard re-rendered this from a checked syntax tree: not the raw text.
                rows = rows.filter(condition)
            matched = rows.project(columns).to_arrow_table()
        except duckdb.Error as error:  # checked as a boolean by guard_rules, but failing
            raise _evaluation_error(group[0], side, condition or "", error) from error
        for rule in group:
            tables.append(
                matched.append_column(
                    "rule_key", pa.array([rule.key] * matched.num_rows, pa.string())
                )
            )
    schema = relation.project(columns).limit(0).to_arrow_table().schema
    schema = schema.append(pa.field("rule_key", pa.string()))
    if not tables:
        return schema.empty_table()
    result = pa.concat_tables([t.select(schema.names).cast(schema) for t in tables])
    log.info("%d rule(s): %d %s match(es)", len(rules), result.num_rows, side)
    return result
