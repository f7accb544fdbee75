"""The rule macros of recsql/rules/rules.sql, for lists made in memory at query time.

The build decides who and what each rule matches and stores it (``customer_rule_states``,
``item_rule_states`` in the published file). Turning two stored states into a verdict is a
few set operations; a SQL query per request costs more than the whole latency budget of a
real-time list (planning alone takes milliseconds), so :mod:`recsql.serving` applies them
here. Each function states the SQL macro of the same name, case for case, and
``tests/test_serving.py`` checks both give the same verdict for every customer, visitor and
item of a shop built to exercise each rule. Change one only with the other.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class PersonState:
    """A row of customer_rule_states: a customer, or a visitor (customer_id None)."""

    customer_id: str | None
    country: str | None
    age: int | None
    exclude_rules: frozenset[str]
    include_only_rules: frozenset[str]
    boosts: tuple[tuple[str, float], ...]  # (rule_key, factor)
    caps: tuple[tuple[str, int], ...]  # (rule_key, cap)
    nothing_rule: str | None
    sustainability_average: float | None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> PersonState:
        return cls(
            customer_id=row["customer_id"],
            country=row["country"],
            age=row["age"],
            exclude_rules=frozenset(row["exclude_rules"] or ()),
            include_only_rules=frozenset(row["include_only_rules"] or ()),
            boosts=tuple((b["rule_key"], b["factor"]) for b in row["boosts"] or ()),
            caps=tuple((c["rule_key"], c["cap"]) for c in row["caps"] or ()),
            nothing_rule=row["nothing_rule"],
            sustainability_average=row["sustainability_average"],
        )


@dataclass(frozen=True, slots=True)
class ItemState:
    """A row of item_rule_states."""

    item_id: str
    category: str | None
    is_active: bool | None
    min_age: int | None
    sustainability_score: float | None
    blocked_countries: frozenset[str]
    rule_keys: frozenset[str]

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> ItemState:
        return cls(
            item_id=row["item_id"],
            category=row["category"],
            is_active=row["is_active"],
            min_age=row["min_age"],
            sustainability_score=row["sustainability_score"],
            blocked_countries=frozenset(row["blocked_countries"] or ()),
            rule_keys=frozenset(row["rule_keys"] or ()),
        )


def blocked_by(c: PersonState, i: ItemState) -> str | None:
    """``recsql_blocked_by(c, i)``: geo, age, exclude rules, inactive item."""
    if c.country is None and i.blocked_countries:
        return "geo restriction (country unknown)"
    if c.country in i.blocked_countries:
        return "geo restriction"
    if i.min_age is not None and c.age is None:
        return "age limit (age unknown)"
    if c.age is not None and i.min_age is not None and c.age < i.min_age:
        return "age limit"
    if excluded := c.exclude_rules & i.rule_keys:
        return "rule " + min(excluded)
    if i.is_active is False:  # NOT NULL is NULL in SQL: no verdict
        return "inactive item"
    return None


def not_included_by(c: PersonState, i: ItemState) -> str | None:
    """``recsql_not_included_by(c, i)``: the first include_only rule the item does not meet."""
    if missing := c.include_only_rules - i.rule_keys:
        return "rule " + min(missing)
    return None


def boost(c: PersonState, i: ItemState) -> float:
    """``recsql_boost(c, i)``: the product of the matching boost factors, 1 when none."""
    factors = [factor for key, factor in c.boosts if key in i.rule_keys]
    return math.prod(factors) if factors else 1.0


def nudge(c: PersonState, i: ItemState, value: float | None) -> float:
    """``recsql_nudge(c, i, nudge)``: 1 + nudge for items greener than the customer's usual."""
    if (
        value is not None
        and value > 0
        and i.sustainability_score is not None
        and c.sustainability_average is not None
        and i.sustainability_score > c.sustainability_average
    ):
        return 1 + value
    return 1.0


def caps_counting(c: PersonState, i: ItemState) -> list[dict[str, Any]]:
    """The customer's cap rules that count the item (``caps`` in int_candidates_judged)."""
    return [{"rule_key": key, "cap": cap} for key, cap in c.caps if key in i.rule_keys]
