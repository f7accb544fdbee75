"""New items for you: items nobody's history can speak for yet, offered by their content.

A new item (launched lately, or never bought) has no co-occurrence, no factors and no EASE
weight: every collaborative algorithm passes it by. Its metadata does not: a customer who buys
Christmas candles and glass baubles is the one to show the new Christmas lantern to. Each item
is a vector of content features (``int_item_content``: the words of its name, its category,
brand and price band, tf-idf weighted, unit length); each item keeps its ``NEIGHBOURS`` most
similar new items (cosine of the contents); a customer's score for a new item is the mean of
its similarities to the items of their history, and the history item most like it explains it.

Cost: items x new items similarities, then customers x new items scores (a sparse product of
the histories with the neighbours), each dense in blocks of at most ``SIMILARITIES_PER_BLOCK``
cells; the history item that explains each kept pair is found in one pass over the histories
(a round per position in a customer's history). docs/engine.md#new-items-for-you.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from recsql.engine import journal
from recsql.engine.algorithms.topn import PAD_ITEM, topn
from recsql.engine.tenancy import grouped_by_tenant

#: The most similar new items each item keeps: what a history item can speak for.
NEIGHBOURS = 20
#: Cells (item or customer x new item) computed at once, dense: 32 MiB of float64 per array
#: however many items are new (a catalogue nobody has bought from yet is all new).
SIMILARITIES_PER_BLOCK = 1 << 22
#: The algorithm the served rows name.
ALGORITHM = "content"

SCHEMA = pa.schema(
    [
        ("tenant_id", pa.string()),
        ("customer_id", pa.string()),
        ("item_id", pa.string()),
        ("score", pa.float64()),
        ("rank", pa.int64()),
        ("because_item_id", pa.string()),
    ]
)


def new_item_neighbours(content: sp.csr_matrix, is_new: np.ndarray, n: int) -> sp.csr_matrix:
    """Items x new items: each item's ``n`` most similar new items (cosine of the rows of
    ``content``, positive only; ties: the first new items); the columns are the new items in
    item order."""
    new_rows = content[np.flatnonzero(is_new)].T.tocsc()
    blocks = []
    rows_per_block = max(1, SIMILARITIES_PER_BLOCK // max(new_rows.shape[1], 1))
    for start in range(0, content.shape[0], rows_per_block):
        similar = (content[start : start + rows_per_block] @ new_rows).toarray()
        rows, columns, _ = _top(np.where(similar > 0, similar, -np.inf), n)
        blocks.append(
            sp.csr_matrix(
                (similar[rows, columns], (rows, columns)),
                shape=(len(similar), new_rows.shape[1]),
            )
        )
    return sp.vstack(blocks, format="csr")


def recommend(
    histories: sp.csr_matrix, neighbours: sp.csr_matrix, depth: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each customer's (row of ``histories``: customers x items, any value > 0 an item of their
    history) ``depth`` best new items (columns of ``neighbours``).

    Returns customer rows, new-item columns, scores (the mean similarity of the new item to the
    customer's history items, each item once), the history item most similar to each (ties:
    the first column) and ranks (1 the best; ties by column), sorted by customer and rank.
    Customers are taken in blocks of at most ``SIMILARITIES_PER_BLOCK`` (customer, new item)
    cells."""
    histories = histories.tocsr().astype(bool).astype(np.float64)
    histories.sort_indices()
    step = max(1, SIMILARITIES_PER_BLOCK // max(neighbours.shape[1], 1))
    found = [
        _block(histories[start : start + step], neighbours, depth, start)
        for start in range(0, histories.shape[0], step)
    ]
    if not found:
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros(0), empty, empty
    customer, new_item, score, because, rank = (
        np.concatenate(parts) for parts in zip(*found, strict=True)
    )
    return customer, new_item, score, because, rank


def _block(
    rows: sp.csr_matrix, neighbours: sp.csr_matrix, depth: int, offset: int
) -> tuple[np.ndarray, ...]:
    """:func:`recommend` for one block of customers (row ``offset`` the first), dense over the
    new items."""
    history_size = np.diff(rows.indptr)
    total = (rows @ neighbours).toarray()
    score = total / np.maximum(history_size, 1)[:, None]
    # the first `depth` positive scores of each row, best first, ties by column
    customer, new_item, rank = _top(np.where(total > 0, score, -np.inf), depth)
    because = _most_similar(rows, neighbours, customer, new_item)
    return (
        customer + offset,
        new_item,
        score[customer, new_item],
        because,
        rank,
    )


def _top(values: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, column, rank) of each row's ``depth`` largest finite values, by row, then value
    descending, then column: the lists' own top-n (:func:`recsql.engine.algorithms.topn.topn`)."""
    items, _ = topn(values, depth)
    row, position = np.nonzero(items != PAD_ITEM)
    return row, items[row, position].astype(np.int64), position + 1


def _most_similar(
    rows: sp.csr_matrix, neighbours: sp.csr_matrix, customer: np.ndarray, new_item: np.ndarray
) -> np.ndarray:
    """For each (customer, new item), the customer's history item (a column of ``rows``) most
    similar to it; ties: the first column. A round per history position: within one, each
    customer has one item and its neighbours are distinct, so no (customer, new item) repeats."""
    best = np.zeros((rows.shape[0], neighbours.shape[1]))
    source = np.full((rows.shape[0], neighbours.shape[1]), -1, dtype=np.int64)
    history_size = np.diff(rows.indptr)
    fanout = np.diff(neighbours.indptr)
    for position in range(int(history_size.max(initial=0))):
        who = np.flatnonzero(history_size > position)
        item = rows.indices[rows.indptr[who] + position]
        counts = fanout[item]
        at = np.repeat(neighbours.indptr[item] - (np.cumsum(counts) - counts), counts)
        at += np.arange(len(at))
        row, column, similarity = (
            np.repeat(who, counts),
            neighbours.indices[at],
            neighbours.data[at],
        )
        better = similarity > best[row, column]
        best[row[better], column[better]] = similarity[better]
        source[row[better], column[better]] = np.repeat(item, counts)[better]
    return source[customer, new_item]


def candidates(content: pa.Table, histories: pa.Table, depths: Mapping[str, int]) -> pa.Table:
    """The new items for each customer of each tenant of ``histories``.

    ``content``: ``int_item_content`` rows (tenant_id, item_id, is_new, feature, weight);
    ``histories``: tenant_id, customer_id, item_id of what each customer interacted with;
    ``depths``: how many per customer, per tenant. Returns :data:`SCHEMA` rows: per tenant
    and customer, rank 1 the best. A tenant whose scoring raises is its own failure, noted in
    the engine's journal; the others are scored."""
    content, content_slices = grouped_by_tenant(content)
    histories, history_slices = grouped_by_tenant(histories)
    by_tenant = dict(history_slices)
    tables, runs = [], []
    for tenant_id, rows in content_slices:
        if tenant_id not in by_tenant or tenant_id not in depths:
            continue
        history = by_tenant[tenant_id]
        started = time.perf_counter()
        try:
            table = _tenant(
                tenant_id,
                content.slice(rows.start, rows.stop - rows.start),
                histories.slice(history.start, history.stop - history.start),
                depths[tenant_id],
            )
            error = None
        except Exception as failure:  # one tenant's failure is its own, not the build's
            table, error = None, journal.describe(failure)
        runs.append(journal.Run(tenant_id, ALGORITHM, time.perf_counter() - started, error))
        if table is not None and table.num_rows:
            tables.append(table)
    journal.note(runs)
    return pa.concat_tables(tables) if tables else SCHEMA.empty_table()


def content_matrix(
    rows: np.ndarray, columns: np.ndarray, weights: np.ndarray, shape: tuple[int, int]
) -> sp.csr_matrix:
    """Items x features, each item's row scaled to unit length (its entries summed in column
    order, so the same inputs give the same bits)."""
    matrix = sp.csr_matrix((weights.astype(np.float64), (rows, columns)), shape=shape)
    matrix.sum_duplicates()
    matrix.sort_indices()
    lengths = np.diff(matrix.indptr)
    row_of = np.repeat(np.arange(matrix.shape[0]), lengths)
    norms = np.sqrt(np.bincount(row_of, weights=matrix.data**2, minlength=matrix.shape[0]))
    matrix.data /= norms[row_of]
    return matrix


def _tenant(tenant_id: str, content: pa.Table, histories: pa.Table, depth: int) -> pa.Table | None:
    items = pc.dictionary_encode(content.column("item_id")).combine_chunks()
    features = pc.dictionary_encode(content.column("feature")).combine_chunks()
    item_ids = items.dictionary
    matrix = content_matrix(
        items.indices.to_numpy(),
        features.indices.to_numpy(),
        content.column("weight").to_numpy(zero_copy_only=False),
        (len(item_ids), len(features.dictionary)),
    )
    is_new = np.zeros(len(item_ids), dtype=bool)
    is_new[items.indices.to_numpy()[content.column("is_new").to_numpy(zero_copy_only=False)]] = True
    if not is_new.any():
        return None
    neighbours = new_item_neighbours(matrix, is_new, NEIGHBOURS)
    # histories: their items with content (an item without any is no evidence)
    column = pc.fill_null(
        pc.index_in(histories.column("item_id"), value_set=item_ids), -1
    ).to_numpy()
    known = column >= 0
    customers = pc.dictionary_encode(histories.column("customer_id")).combine_chunks()
    customer_codes = customers.indices.to_numpy()[known]
    # an item counts once, however often it was bought (recommend reads the matrix as binary)
    history = sp.csr_matrix(
        (np.ones(int(known.sum())), (customer_codes, column[known].astype(np.int64))),
        shape=(len(customers.dictionary), len(item_ids)),
    )
    customer, new_item, score, because, rank = recommend(history, neighbours, depth)
    new_ids = item_ids.take(pa.array(np.flatnonzero(is_new)[new_item]))
    return pa.table(
        {
            "tenant_id": pa.repeat(pa.scalar(tenant_id, pa.string()), len(customer)),
            "customer_id": customers.dictionary.take(pa.array(customer)),
            "item_id": new_ids,
            "score": pa.array(score, pa.float64()),
            "rank": pa.array(rank, pa.int64()),
            "because_item_id": item_ids.take(pa.array(because)),
        },
        schema=SCHEMA,
    )
