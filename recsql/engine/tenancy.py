"""Tenant by tenant: splitting arrays sorted by tenant into per-tenant slices."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np


def tenant_slices(tenants: np.ndarray) -> Iterator[tuple[str, slice]]:
    """(tenant, slice) for each run of equal values of an array sorted by tenant."""
    if len(tenants) == 0:
        return
    starts = np.flatnonzero(tenants[1:] != tenants[:-1]) + 1
    for start, stop in itertools.pairwise([0, *starts.tolist(), len(tenants)]):
        yield tenants[start], slice(start, stop)
