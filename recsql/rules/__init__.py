"""Business rules: the guard that checks analysts' conditions (:mod:`~recsql.rules.guard`), the
matching of rules to customers and items (:mod:`~recsql.rules.matches`), the verdict macros
shared by the build and every published file (``rules.sql``, :func:`macros_sql`), their Python
mirror for lists made at query time (:mod:`~recsql.rules.verdicts`) and the category caps
(:mod:`~recsql.rules.caps`). docs/rules.md documents the rules themselves.
"""

from __future__ import annotations

from importlib.resources import files


def macros_sql() -> str:
    """The business-rule macros (``rules.sql``), defined in the build and in every published
    database."""
    return files(__name__).joinpath("rules.sql").read_text()


__all__ = ["macros_sql"]
