"""Which customers and which items each enabled business rule matches.

Rule conditions are data written by analysts. Every condition first goes through the guard
(:func:`recsql.rules.guard.check_rule`): only what it re-renders from the syntax tree runs, as a
filter on the customers (``customer_profiles``) or the items (``stg_items``) of the rule's
tenant — or of every tenant, for a rule whose tenant_id is ``'*'``. A condition the guard
refuses raises :class:`recsql.rules.guard.RuleError`, which fails the build before anything is
published. An empty condition matches every customer (or item) of the tenant.

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
    rules: Iterable[dict], customer_columns: Iterable[str], item_columns: Iterable[str]
) -> list[GuardedRule]:
    """The enabled rules, with their conditions checked and re-rendered by the guard.

    ``rules``: rows of ``stg_rules`` (tenant_id, rule_id, action, customer_condition,
    item_condition, is_enabled). Raises :class:`recsql.rules.guard.RuleError` on the first
    condition the guard refuses.
    """
    customer_columns, item_columns = list(customer_columns), list(item_columns)
    guarded = []
    for rule in rules:
        if not rule["is_enabled"]:
            continue
        customer_sql, item_sql = check_rule(
            rule["tenant_id"],
            rule["rule_id"],
            rule["customer_condition"],
            rule["item_condition"],
            customer_columns,
            item_columns,
        )
        guarded.append(
            GuardedRule(rule["tenant_id"], rule["rule_id"], rule["action"], customer_sql, item_sql)
        )
    return guarded


GUARDED_SCHEMA = pa.schema(
    [
        ("rule_key", pa.string()),
        ("scope", pa.string()),
        ("rule_id", pa.string()),
        ("action", pa.string()),
        ("customer_condition", pa.string()),
        ("item_condition", pa.string()),
    ]
)


def to_table(rules: list[GuardedRule]) -> pa.Table:
    """The guarded rules as a table (``rules_guarded``): what runs, rule by rule."""
    return pa.table(
        {
            "rule_key": [r.key for r in rules],
            "scope": [r.scope for r in rules],
            "rule_id": [r.rule_id for r in rules],
            "action": [r.action for r in rules],
            "customer_condition": [r.customer_condition for r in rules],
            "item_condition": [r.item_condition for r in rules],
        },
        schema=GUARDED_SCHEMA,
    )


def from_table(table: pa.Table) -> list[GuardedRule]:
    return [
        GuardedRule(
            r["scope"], r["rule_id"], r["action"], r["customer_condition"], r["item_condition"]
        )
        for r in table.to_pylist()
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
                kind = str(relation.project(condition).types[0])
                if kind != "BOOLEAN":
                    raise duckdb.Error(f"it is {kind}, not a boolean condition")
                rows = rows.filter(condition)
            matched = rows.project(columns).to_arrow_table()
        except duckdb.Error as error:  # allowed syntax, but not a boolean, or failing
            rule = group[0]
            raise RuleError(
                rule.scope,
                rule.rule_id,
                f"{side}_condition",
                condition or "",
                condition or "",
                f"it cannot be evaluated ({str(error).splitlines()[0]})",
            ) from error
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
