"""Recommendation algorithms: pure numerical functions over numpy/scipy arrays.

Every algorithm implements :class:`Algorithm` (``fit``, ``recommend``, ``similar_items``)
on a customers x items ``scipy.sparse.csr_matrix`` of non-negative affinities; dbt Python
models call them once per tenant. No DuckDB and no dbt here.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from recsql.engine.algorithms.als import ALS
from recsql.engine.algorithms.base import Algorithm, as_user_items
from recsql.engine.algorithms.ease import EASE
from recsql.engine.algorithms.topn import PAD_ITEM, PAD_SCORE, segment_argmax, topn

__all__ = [
    "ALGORITHMS",
    "ALS",
    "EASE",
    "PAD_ITEM",
    "PAD_SCORE",
    "Algorithm",
    "as_user_items",
    "segment_argmax",
    "topn",
]

#: Algorithm classes by their ``name`` (the value of a tenant's ``algorithm`` setting).
ALGORITHMS: Mapping[str, type[Algorithm]] = MappingProxyType(
    {algorithm.name: algorithm for algorithm in (ALS, EASE)}
)
