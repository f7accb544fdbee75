"""SQL text: quoting values and names for the statements recsql writes itself.

Values from users never reach SQL this way except as quoted literals; analysts' rule
conditions go through the guard instead (:mod:`recsql.rules.guard`).
"""

from __future__ import annotations


def literal(value: str) -> str:
    """``value`` as a SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def identifier(name: str) -> str:
    """``name`` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'
