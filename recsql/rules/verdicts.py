"""The rules' verdicts for lists made in memory at query time.

The build makes every verdict that depends on who the customer is by rule class — people the
rules treat alike — and item (``rule_class_verdicts``, published with every file): which rule
blocks an item, its boost, the caps counting it. A list made at query time looks them up
(:class:`Verdict`, :func:`verdict_of`); no condition or macro is evaluated again. What is per
customer is whether they bought an item (known from ``bought_items``) and the sustainability
nudge, which compares the item with what the customer usually buys: :func:`nudge` states the
``recsql_nudge`` macro of ``rules.sql``, case for case, and ``tests/test_serving.py`` checks both
agree for every customer and item of a shop built to exercise the rules. Change one only with
the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Verdict:
    """The build's verdict on an item for a rule class (a row of ``rule_class_verdicts``)."""

    #: The built-in or exclude rule that blocks the item (geo, age, exclude, inactive), or None.
    blocked_by: str | None = None
    #: The include_only rule the item does not satisfy, or None.
    not_included_by: str | None = None
    #: The product of the boost rules matching the item.
    boost: float = 1.0
    #: The cap rules counting the item: {rule_key, cap} each.
    caps: tuple[Mapping[str, Any], ...] = ()

    @property
    def allows(self) -> bool:
        return self.blocked_by is None and self.not_included_by is None


#: The verdict on an item the rules say nothing about (no row in ``rule_class_verdicts``).
NEUTRAL = Verdict()


def verdict_of(row: Mapping[str, Any]) -> Verdict:
    """A row of ``rule_class_verdicts`` as a :class:`Verdict`."""
    return Verdict(
        blocked_by=row["blocked_by"],
        not_included_by=row["not_included_by"],
        boost=row["boost"],
        caps=tuple(row["caps"] or ()),
    )


def nudge(value: float | None, item_score: float | None, customer_average: float | None) -> float:
    """``recsql_nudge(c, i, nudge)``: 1 + nudge for an item greener than what the customer
    usually buys (their spend-weighted average sustainability score), else 1."""
    if (
        value is not None
        and value > 0
        and item_score is not None
        and customer_average is not None
        and item_score > customer_average
    ):
        return 1 + value
    return 1.0
