"""Serving: what a published database holds for its clients (``serving.sql``: the views and
table macros, :func:`objects_sql`) and the Python API over it, ``recsql.open(path)``: the
connection and its tenants (:class:`Recommender`), one tenant in memory
(:mod:`~recsql.serving.tenant`), lists made at query time (:mod:`~recsql.serving.lists`), and
what calls return (:mod:`~recsql.serving.results`).
"""

from __future__ import annotations

from importlib.resources import files

from recsql.serving.recommender import Recommender
from recsql.serving.results import Recommendation, Recommendations
from recsql.serving.tenant import RecsqlError


def objects_sql() -> str:
    """The views and table macros created in every published database (``serving.sql``)."""
    return files(__name__).joinpath("serving.sql").read_text()


__all__ = ["Recommendation", "Recommendations", "Recommender", "RecsqlError", "objects_sql"]
