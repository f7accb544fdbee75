"""What every call of the Python API returns: a list of :class:`Recommendation`, best first."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import astuple, dataclass
from typing import Any

import pyarrow as pa


@dataclass(frozen=True, slots=True)
class Recommendation:
    """One row of a list: rank (from 1), item, score (higher is better), why, and which
    algorithm put it there."""

    rank: int
    item_id: str
    score: float
    reason: str
    algorithm: str


_SCHEMA = pa.schema(
    [
        ("rank", pa.int64()),
        ("item_id", pa.string()),
        ("score", pa.float64()),
        ("reason", pa.string()),
        ("algorithm", pa.string()),
    ]
)


class Recommendations(list[Recommendation]):
    """A list of :class:`Recommendation`, best first, with Arrow and pandas forms.

    Attributes
    ----------
    unknown_context_items : tuple of str
        Context items of the request that the tenant's catalogue does not hold: ignored (they
        are reported here rather than silently used or dropped).
    """

    def __init__(
        self, rows: Iterable[Recommendation] = (), unknown_context_items: Iterable[str] = ()
    ) -> None:
        super().__init__(rows)
        self.unknown_context_items = tuple(unknown_context_items)

    def to_arrow(self) -> pa.Table:
        columns = zip(*(astuple(r) for r in self), strict=True) if self else [[]] * 5
        return pa.table(list(map(list, columns)), schema=_SCHEMA)

    def to_pandas(self) -> Any:
        """A pandas DataFrame (needs pandas, which recsql does not install)."""
        try:
            return self.to_arrow().to_pandas()
        except ModuleNotFoundError as error:  # pragma: no cover - depends on the environment
            raise ModuleNotFoundError(
                "to_pandas() needs pandas: pip install pandas (or use to_arrow())"
            ) from error
