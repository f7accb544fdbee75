"""Category caps: which candidates of a list are kept, in list order.

A cap rule allows at most ``cap`` items of one category among the items it counts (its
item_condition). With several caps on one list, an item removed by one cap must not count
against another, so the choice is sequential: walking a customer's list in order, an item is
kept when every cap that counts it still has room among the items *kept* before it. SQL window
functions cannot express "kept before"; this module does it for every list at once, one list
position at a time across all customers (numpy), so the work grows with the number of rows,
not with the number of lists.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def keep(
    lists: np.ndarray,
    categories: np.ndarray,
    caps: pa.ListArray,
    already: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Which rows are kept, and the cap rule that removed each row that is not.

    Parameters
    ----------
    lists
        Integer id of each row's list (a tenant, shelf and customer), rows sorted by list and,
        within a list, in list order.
    categories
        Each row's category (rows without a category are never capped): an Arrow string array
        or anything ``pyarrow.array`` takes.
    caps
        Each row's applicable caps: a list of structs ``{rule_key, cap}``.
    already
        Rows that are kept whatever happens (items a list already holds, whose categories
        count), default none.

    Returns
    -------
    kept : ndarray of bool
    capped_by : ndarray of object
        The first (by rule key) cap rule without room, for rows not kept; else None.
    """
    n = len(lists)
    kept = np.ones(n, dtype=bool)
    capped_by = np.full(n, None, dtype=object)
    if n == 0:
        return kept, capped_by
    already = np.zeros(n, dtype=bool) if already is None else already

    # One (row, cap) pair per cap that counts the row; its counter is (list, rule, category).
    if isinstance(categories, pa.ChunkedArray):
        categories = categories.combine_chunks()
    elif not isinstance(categories, pa.Array):
        categories = pa.array(categories, pa.string())
    category_codes = pc.dictionary_encode(categories).indices
    has_category = category_codes.is_valid().to_numpy(zero_copy_only=False)
    category_codes = category_codes.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    caps_per_row = pc.list_value_length(caps).fill_null(0).to_numpy(zero_copy_only=False)
    caps_per_row = np.where(has_category, caps_per_row, 0)
    if caps_per_row.sum() == 0:
        return kept, capped_by
    pair_row = np.repeat(np.arange(n), caps_per_row)
    flat = pc.list_flatten(caps.filter(pa.array(has_category)))
    rule_names = flat.field("rule_key")
    rule_dictionary = pc.dictionary_encode(rule_names)
    pair_rule = rule_dictionary.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    pair_cap = flat.field("cap").to_numpy(zero_copy_only=False).astype(np.int64)
    n_rules = len(rule_dictionary.dictionary)
    n_categories = int(category_codes.max()) + 1
    key = (np.asarray(lists, dtype=np.int64)[pair_row] * n_rules + pair_rule) * n_categories
    _, counter = np.unique(key + category_codes[pair_row], return_inverse=True)
    used = np.zeros(counter.max() + 1, dtype=np.int64)

    # Position of each row within its list: rows of equal position are decided together
    # (they belong to different lists, so they cannot compete for a counter).
    starts = np.flatnonzero(np.r_[True, lists[1:] != lists[:-1]])
    position = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))
    order = np.argsort(position[pair_row], kind="stable")
    pair_row, pair_rule, pair_cap, counter = (
        pair_row[order],
        pair_rule[order],
        pair_cap[order],
        counter[order],
    )
    pair_position = position[pair_row]
    bounds = np.flatnonzero(np.r_[True, pair_position[1:] != pair_position[:-1], True])
    full = np.zeros(len(pair_row), dtype=bool)
    for start, stop in itertools.pairwise(bounds):
        rows = pair_row[start:stop]
        full[start:stop] = (used[counter[start:stop]] >= pair_cap[start:stop]) & ~already[rows]
        kept[rows[full[start:stop]]] = False
        counted = kept[rows]
        np.add.at(used, counter[start:stop][counted], 1)

    # capped_by: the smallest rule key among the full caps of each row that was not kept.
    names = np.asarray(rule_dictionary.dictionary.to_pylist(), dtype=object)
    full_rows, full_rules = pair_row[full], names[pair_rule[full]]
    order = np.lexsort((full_rules.astype(str), full_rows))
    full_rows, full_rules = full_rows[order], full_rules[order]
    if len(full_rows):
        first = np.r_[True, full_rows[1:] != full_rows[:-1]]
        capped_by[full_rows[first]] = full_rules[first]
    return kept, capped_by


def list_ids(lists: pa.Table, key: Sequence[str]) -> np.ndarray:
    """An integer id per row, one per run of equal ``key`` values (``lists`` sorted by key)."""
    n = lists.num_rows
    starts = np.zeros(n, dtype=bool)
    if n == 0:
        return starts.astype(np.int64)
    starts[0] = True
    for name in key:
        column = lists.column(name).combine_chunks()
        differs = pc.not_equal(column.slice(1), column.slice(0, n - 1)).fill_null(True)
        starts[1:] |= differs.to_numpy(zero_copy_only=False)
    return np.cumsum(starts) - 1


def apply(lists: pa.Table, key: Sequence[str], already: str | None = None) -> pa.Table:
    """``lists`` (columns ``key``, category, caps; sorted by ``key`` and, within a list, in list
    order) with a ``capped_by`` column: NULL for rows kept, else the cap rule that removed the
    row. Rows where the boolean column ``already`` is true are kept and count."""
    _kept, capped_by = keep(
        list_ids(lists, key),
        lists.column("category"),
        lists.column("caps").combine_chunks(),
        None if already is None else lists.column(already).to_numpy(zero_copy_only=False),
    )
    return lists.append_column("capped_by", pa.array(capped_by, pa.string()))
