"""Batched top-n selection shared by every algorithm.

Two small vectorised kernels:

- :func:`topn` picks the ``n`` best columns of each row of a dense score block, with
  exclusions, deterministic tie-breaking and padding;
- :func:`segment_argmax` picks, for each row of a CSR history, the history item that
  contributes most to each recommended item (the explanation).

Both are linear in the size of their input (``argpartition``, not a full sort), so the cost
per batch is one pass over ``batch x items`` scores.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["PAD_ITEM", "PAD_SCORE", "segment_argmax", "topn"]

#: Item index used to pad rows that have fewer than ``n`` items to return.
PAD_ITEM = -1
#: Score used to pad rows that have fewer than ``n`` items to return.
PAD_SCORE = -np.inf

_NO_LABEL = np.iinfo(np.int32).max


def topn(
    scores: np.ndarray,
    n: int,
    *,
    exclude: sp.csr_matrix | None = None,
    overwrite_scores: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` highest-scoring columns of each row, best first.

    Parameters
    ----------
    scores
        Dense ``(rows, items)`` float array. Must not contain NaN. ``-inf`` means "never
        return this item".
    n
        Number of items per row (``>= 0``).
    exclude
        Optional ``(rows, items)`` sparse matrix; every stored non-zero entry is an item that
        must not be returned for that row.
    overwrite_scores
        Allow writing ``-inf`` into ``scores`` at excluded positions instead of copying it.

    Returns
    -------
    items : ndarray of int32, shape (rows, n)
        Column indices, by descending score; ties go to the lower column index, so the result
        does not depend on how ``argpartition`` orders equal values. Rows with fewer than
        ``n`` returnable items are padded with :data:`PAD_ITEM`.
    scores : ndarray of float32, shape (rows, n)
        Their scores, padded with :data:`PAD_SCORE` (``-inf``).
    """
    if scores.ndim != 2:
        raise ValueError(f"scores must be 2-D, got shape {scores.shape}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rows, n_items = scores.shape
    if exclude is not None:
        if exclude.shape != scores.shape:
            raise ValueError(f"exclude has shape {exclude.shape}, scores {scores.shape}")
        if not overwrite_scores:
            scores = scores.copy()
        exclude = sp.csr_matrix(exclude)
        keep = exclude.data != 0
        exclude_rows = np.repeat(np.arange(rows), np.diff(exclude.indptr))
        scores[exclude_rows[keep], exclude.indices[keep]] = PAD_SCORE

    k = min(n, n_items)
    if k == 0 or rows == 0:
        candidates = np.empty((rows, 0), dtype=np.int64)
        candidate_scores = np.empty((rows, 0), dtype=np.float32)
    elif k == n_items:
        candidates = np.broadcast_to(np.arange(n_items), (rows, n_items))
        candidate_scores = scores
    else:
        candidates, candidate_scores = _select(scores, k)

    # Order the k candidates of each row: by score descending, then by item index ascending.
    order = np.lexsort((candidates, -candidate_scores), axis=1)
    items = np.take_along_axis(candidates, order, axis=1).astype(np.int32)
    top_scores = np.take_along_axis(candidate_scores, order, axis=1).astype(np.float32)
    items[top_scores == PAD_SCORE] = PAD_ITEM
    if k < n:
        items = np.pad(items, ((0, 0), (0, n - k)), constant_values=PAD_ITEM)
        top_scores = np.pad(top_scores, ((0, 0), (0, n - k)), constant_values=PAD_SCORE)
    return items, top_scores


def _select(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The (unordered) set of the ``k`` best columns per row, ties to the lower column index.

    ``argpartition`` finds *a* top-k set in linear time, but when several items share the
    k-th largest score it may keep any of them. Rows where that happens are rare in real
    scores (but common for zero scores and padding), so they are fixed separately: keep
    every item above the threshold plus the lowest-indexed items equal to it.
    """
    n_items = scores.shape[1]
    candidates = np.argpartition(scores, n_items - k, axis=1)[:, n_items - k :]
    candidate_scores = np.take_along_axis(scores, candidates, axis=1)
    threshold = candidate_scores.min(axis=1, keepdims=True)
    at_least = np.count_nonzero(scores >= threshold, axis=1)
    tied = np.flatnonzero(at_least > k)
    if tied.size:
        block = scores[tied]
        above = block > threshold[tied]
        equal = block == threshold[tied]
        room = k - np.count_nonzero(above, axis=1, keepdims=True)
        keep = above | (equal & (np.cumsum(equal, axis=1) <= room))
        columns = np.nonzero(keep)[1].reshape(tied.size, k)
        candidates[tied] = columns
        candidate_scores[tied] = np.take_along_axis(block, columns, axis=1)
    return candidates, candidate_scores


def segment_argmax(values: np.ndarray, indptr: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """For each CSR row segment and column, the label of the entry with the largest value.

    Parameters
    ----------
    values
        ``(entries, n)`` array: one row per stored entry of a CSR matrix, one column per
        recommended item (e.g. the contribution of history item ``e`` to recommendation ``k``).
    indptr
        CSR row pointer of length ``rows + 1`` that groups ``values`` rows into segments.
    labels
        ``(entries,)`` label of each entry (the history item index).

    Returns
    -------
    ndarray of int32, shape (rows, n)
        The label with the largest value in each segment and column; ties go to the lower
        label. ``-1`` for empty segments and where the largest value is not positive (nothing
        contributed).
    """
    rows = len(indptr) - 1
    n = values.shape[1]
    out = np.full((rows, n), PAD_ITEM, dtype=np.int32)
    counts = np.diff(indptr)
    nonempty = counts > 0
    if values.shape[0] == 0 or n == 0:
        return out
    # reduceat over the starts of the non-empty segments only: empty segments would make
    # reduceat return a neighbouring element instead of an identity.
    starts = np.asarray(indptr[:-1])[nonempty]
    best_value = np.maximum.reduceat(values, starts, axis=0)
    segment = np.repeat(np.arange(starts.size), counts[nonempty])
    is_best = values == best_value[segment]
    best_label = np.minimum.reduceat(
        np.where(is_best, labels[:, None].astype(np.int32), _NO_LABEL), starts, axis=0
    )
    best_label[~(best_value > 0)] = PAD_ITEM
    out[nonempty] = best_label
    return out
