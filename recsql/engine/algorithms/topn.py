"""Batched top-n selection shared by every algorithm.

Two small vectorised kernels:

- :func:`topn` picks the ``n`` best columns of each row of a dense score block, with
  exclusions, deterministic tie-breaking and padding;
- :func:`segment_argmax` picks, for each row of a CSR history, the history item that
  contributes most to each recommended item (the explanation).

Both are linear in the size of their input (a threshold from block maxima, not a sort), so
the cost per batch is a few passes over ``batch x items`` scores - but for rows of only a few
times ``n`` items (a small shop's catalogue), which :func:`topn` sorts whole: faster there.
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
        Column indices, by descending score; ties go to the lower column index (the same
        items for any batching of the rows). Rows with fewer than
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
    elif n_items < SORT_BELOW * k:
        # a small catalogue (a small shop's, k = 50): each row sorted whole, ties in column
        # order, is faster than the blocks of _select, which are one column wide here
        candidates = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        candidate_scores = np.take_along_axis(scores, candidates, axis=1)
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


#: Rows of fewer than this many times ``n`` columns are sorted whole instead of selected by
#: :func:`_select` (whose blocks of columns are then one or two wide): 300 x 150 scores, k = 50,
#: 1.35 instead of 2.2 ms; level at 300 columns, and the selection far ahead from 600 on.
SORT_BELOW = 4
#: The widest block of columns :func:`_select` takes a maximum of. Measured on 1,000 x 15,000
#: scores, k = 50, 5 % to 40 % of them non-zero (benchmarks/topn_blocks.py): 64 reads twice
#: as many values again as 32 (about 20 % slower), 8 spends more on the maxima.
MAX_BLOCK = 32


def _select(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The (unordered) set of the ``k`` best columns per row, ties to the lower column index.

    Not ``argpartition`` on the whole block: numpy's vectorised selection falls back to a full
    sort on rows where most values are equal - the zeros of a sparse model's scores (EASE from
    stored weights: 95 % zeros over 50,000 items took 7 s per 1,000 customers instead of
    0.1 s). Instead, a threshold no higher than each row's k-th best value is found among the
    maxima of blocks of columns - if ``k`` blocks have a maximum of at least ``t``, so do at
    least ``k`` values - and the choice is made among the few values above it, plus the
    lowest-indexed values equal to it when those are not ``k``.
    """
    rows, n_items = scores.shape
    # Blocks of up to MAX_BLOCK columns, at least 2k of them: the values strictly above the
    # threshold lie in fewer than k blocks, so a row has fewer than k * block of them.
    block = max(1, min(MAX_BLOCK, n_items // (2 * k)))
    maxima = np.maximum.reduceat(scores, np.arange(0, n_items, block), axis=1)
    n_blocks = maxima.shape[1]
    threshold = np.partition(maxima, n_blocks - k, axis=1)[:, n_blocks - k]

    # The values above the threshold lie in the (fewer than k) blocks whose maximum is above
    # it: only those blocks are read again, in row and column order.
    block_rows, block_numbers = np.nonzero(maxima > threshold[:, None])
    # each block read whole (a view of the full blocks, no index per value); the last block
    # may be shorter: the rest of its row is the threshold, which is not above it
    full = n_items // block
    blocks = scores[:, : full * block].reshape(rows, full, block)
    values = np.empty((block_rows.size, block), dtype=scores.dtype)
    is_full = block_numbers < full
    values[is_full] = blocks[block_rows[is_full], block_numbers[is_full]]
    if not is_full.all():
        width, last = n_items - full * block, ~is_full
        values[last, :width] = scores[block_rows[last], full * block :]
        values[last, width:] = threshold[block_rows[last], None]
    block_at, offset = np.nonzero(values > threshold[block_rows, None])
    above_rows = block_rows[block_at]
    above_columns = block_numbers[block_at] * block + offset
    above_scores = values[block_at, offset]
    # best first within each row, ties to the lower column (np.nonzero orders by row, column)
    order = _best_first(above_rows, above_columns, above_scores)
    above_rows, above_columns, above_scores = (
        above_rows[order],
        above_columns[order],
        above_scores[order],
    )
    counts = np.bincount(above_rows, minlength=rows)
    position = np.arange(above_rows.size) - np.repeat(np.cumsum(counts) - counts, counts)
    kept = position < k

    candidates = np.empty((rows, k), dtype=np.int64)
    candidate_scores = np.empty((rows, k), dtype=scores.dtype)
    candidates[above_rows[kept], position[kept]] = above_columns[kept]
    candidate_scores[above_rows[kept], position[kept]] = above_scores[kept]
    # Rows with fewer than k values above the threshold: their k-th best value is the
    # threshold itself; the lowest-indexed columns holding it complete them. Those columns
    # are looked for in a prefix of the row, widened for the rows where it holds too few.
    short = np.flatnonzero(counts < k)
    width = min(n_items, 4 * k)
    while short.size:
        equal = scores[short, :width] == threshold[short, None]
        room = k - counts[short]
        enough = np.count_nonzero(equal, axis=1) >= room
        at, columns = np.nonzero(equal[enough])
        filled = short[enough]
        found = np.bincount(at, minlength=filled.size)
        rank = np.arange(at.size) - np.repeat(np.cumsum(found) - found, found)
        wanted = rank < room[enough][at]
        row, slot = filled[at[wanted]], counts[filled[at[wanted]]] + rank[wanted]
        candidates[row, slot] = columns[wanted]
        candidate_scores[row, slot] = threshold[row]
        short, width = short[~enough], min(n_items, 4 * width)
    return candidates, candidate_scores


def _best_first(rows: np.ndarray, columns: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """``np.lexsort((columns, -scores, rows))`` for entries in row, column order: one stable
    sort of one integer key (the row, then the score's bits in descending order) when the
    scores are float32 - a third of the time of the three-key sort - the lexsort otherwise."""
    if scores.dtype != np.float32 or rows.size == 0 or rows.max() >= 2**31:
        return np.lexsort((columns, -scores, rows))
    # -s + 0 turns -0.0 into 0.0 (equal scores, as the lexsort has them); then the bits of a
    # float32 as an integer of the same order (the negative ones' magnitude bits flipped)
    bits = (-scores + np.float32(0)).view(np.int32)
    ordered = (bits ^ ((bits >> 31) & np.int32(0x7FFFFFFF))).astype(np.int64) + 2**31
    key = (rows.astype(np.int64) << 32) | ordered
    return np.argsort(key, kind="stable")


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
