"""Tenant by tenant: splitting arrays sorted by tenant into per-tenant slices."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def tenant_slices(tenants: np.ndarray) -> Iterator[tuple[str, slice]]:
    """(tenant, slice) for each run of equal values of an array sorted by tenant."""
    if len(tenants) == 0:
        return
    starts = np.flatnonzero(tenants[1:] != tenants[:-1]) + 1
    for start, stop in itertools.pairwise([0, *starts.tolist(), len(tenants)]):
        yield tenants[start], slice(start, stop)


def grouped_by_tenant(table: pa.Table) -> tuple[pa.Table, list[tuple[str, slice]]]:
    """``table`` with each tenant's rows together, and (tenant, slice) for each tenant.

    Rows that come grouped (e.g. sorted by tenant) are left as they are, others are brought
    together in a stable order (each tenant's rows keep theirs). The tenant ids are compared as
    dictionary codes (numbered in order of first appearance, so grouped rows have
    non-decreasing codes): millions of rows never become Python strings, nor are they sorted
    as strings.
    """
    encoded = pc.dictionary_encode(table.column("tenant_id")).combine_chunks()
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    steps = np.diff(codes)
    if (steps < 0).any():
        order = np.argsort(codes, kind="stable")
        table, codes = table.take(order), codes[order]
        steps = np.diff(codes)
    starts = [0, *(np.flatnonzero(steps) + 1).tolist(), len(codes)] if len(codes) else []
    names = encoded.dictionary.to_pylist()
    return table, [
        (names[codes[start]], slice(start, stop)) for start, stop in itertools.pairwise(starts)
    ]
