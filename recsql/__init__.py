"""recsql: an embeddable, SQL-native recommender that lives in a DuckDB file.

``recsql.open(path)`` opens a published database for recommendations at query time
(recsql/serving/); the build is ``recsql build`` (recsql/cli.py) or ``dbt build``.
"""

from __future__ import annotations

import os
from importlib import metadata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from recsql.serving import Recommender

try:
    # The installed distribution's metadata, written from pyproject.toml: one version, one home.
    __version__ = metadata.version("recsql")
except metadata.PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"


def open(path: str | os.PathLike[str], *, follow_publishes: bool = True) -> Recommender:
    """Open a published recsql database read-only: see :class:`recsql.serving.Recommender`."""
    from recsql.serving import Recommender  # imported on use: the build does not need it

    return Recommender(path, follow_publishes=follow_publishes)


__all__ = ["__version__", "open"]
