"""New items for you: items nobody's history can speak for yet, offered by their content.

A new item (launched lately, or never bought) has no co-occurrence, no factors and no EASE
weight: every collaborative algorithm passes it by. Its metadata does not: a customer who buys
Christmas candles and glass baubles is the one to show the new Christmas lantern to. Each item
is a vector of content features (``int_item_content``: the words of its name, its category,
brand and price band, tf-idf weighted, unit length); each item keeps its ``NEIGHBOURS`` most
similar new items (cosine of the contents); a customer's score for a new item is the mean of
its similarities to the items of their history, and the history item most like it explains it.

Cost: the similarities are items x new items, in blocks of at most ``SIMILARITIES_PER_BLOCK``;
the scores expand each history row into at most ``NEIGHBOURS`` (customer, new item) pairs, in
customer blocks of at most ``PAIRS_PER_BLOCK`` pairs. docs/engine.md#new-items-for-you.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from recsql.engine import journal
from recsql.engine.tenancy import grouped_by_tenant

#: The most similar new items each item keeps: what a history item can speak for.
NEIGHBOURS = 20
#: Similarities (item x new item) computed at once, dense: 128 MiB of float64 however many items
#: are new (a catalogue nobody has bought from yet is all new).
SIMILARITIES_PER_BLOCK = 1 << 24
#: The (customer, new item) pairs expanded at once when scoring.
PAIRS_PER_BLOCK = 20_000_000
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
    ``content``, positive only); the columns are the new items in item order."""
    new_rows = content[np.flatnonzero(is_new)].T.tocsc()
    keep = min(n, new_rows.shape[1])
    blocks = []
    rows_per_block = max(1, SIMILARITIES_PER_BLOCK // max(new_rows.shape[1], 1))
    for start in range(0, content.shape[0], rows_per_block):
        similar = (content[start : start + rows_per_block] @ new_rows).toarray()
        top = np.argpartition(-similar, keep - 1, axis=1)[:, :keep]
        values = np.take_along_axis(similar, top, axis=1)
        rows = np.broadcast_to(np.arange(len(similar))[:, None], top.shape)
        positive = values > 0
        blocks.append(
            sp.csr_matrix(
                (values[positive], (rows[positive], top[positive])),
                shape=(len(similar), new_rows.shape[1]),
            )
        )
    return sp.vstack(blocks, format="csr")


def _customer_blocks(indptr: np.ndarray, fanout: np.ndarray) -> Iterator[slice]:
    """Slices of customers whose history rows fan out to at most PAIRS_PER_BLOCK pairs (a
    customer alone may exceed it)."""
    pairs = np.concatenate([[0], np.cumsum(fanout)])[indptr]
    start = 0
    while start < len(indptr) - 1:
        stop = int(np.searchsorted(pairs, pairs[start] + PAIRS_PER_BLOCK, side="right")) - 1
        stop = max(stop, start + 1)
        yield slice(start, stop)
        start = stop


def recommend(
    histories: sp.csr_matrix, neighbours: sp.csr_matrix, depth: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each customer's (row of ``histories``: customers x items, any value > 0 an item of their
    history) ``depth`` best new items (columns of ``neighbours``).

    Returns customer rows, new-item columns, scores (the mean similarity of the new item to the
    customer's history items, each item once), the history item most similar to each (ties:
    the first column) and ranks (1 the best; ties by column), sorted by customer and rank."""
    histories = histories.tocsr()
    fanout = np.diff(neighbours.indptr)
    found = []
    for block in _customer_blocks(histories.indptr, fanout[histories.indices]):
        rows = histories[block]
        found.append(_block(rows, neighbours, fanout, depth, block.start))
    if not found:
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros(0), empty, empty
    customer, new_item, score, because, rank = (
        np.concatenate(parts) for parts in zip(*found, strict=True)
    )
    return customer, new_item, score, because, rank


def _block(
    rows: sp.csr_matrix, neighbours: sp.csr_matrix, fanout: np.ndarray, depth: int, offset: int
) -> tuple[np.ndarray, ...]:
    """:func:`recommend` for one block of customers (row ``offset`` the first)."""
    history_size = np.diff(rows.indptr)
    counts = fanout[rows.indices]
    # every (customer, history item, new item neighbour of it): one pair per neighbour
    customer = np.repeat(np.repeat(np.arange(rows.shape[0]), history_size), counts)
    source = np.repeat(rows.indices, counts)
    at = np.repeat(neighbours.indptr[rows.indices] - (np.cumsum(counts) - counts), counts)
    at += np.arange(len(at))
    new_item, similarity = neighbours.indices[at], neighbours.data[at]
    # per (customer, new item): the sum of similarities, and the history item most like it
    order = np.lexsort((source, -similarity, new_item, customer))
    customer, new_item, source, similarity = (
        customer[order],
        new_item[order],
        source[order],
        similarity[order],
    )
    first = np.flatnonzero(
        np.r_[True, (customer[1:] != customer[:-1]) | (new_item[1:] != new_item[:-1])]
    )[: len(customer)]
    total = np.add.reduceat(similarity, first) if len(first) else similarity
    customer, new_item, because = customer[first], new_item[first], source[first]
    score = total / history_size[customer]
    # best first per customer, ties by column; the first `depth`
    order = np.lexsort((new_item, -score, customer))
    customer, new_item, score, because = (
        customer[order],
        new_item[order],
        score[order],
        because[order],
    )
    rank = _ranks(customer)
    kept = rank <= depth
    return customer[kept] + offset, new_item[kept], score[kept], because[kept], rank[kept]


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
        started = time.perf_counter()
        try:
            table = _tenant(
                tenant_id,
                content.slice(rows.start, rows.stop - rows.start),
                histories.slice(
                    by_tenant[tenant_id].start,
                    by_tenant[tenant_id].stop - by_tenant[tenant_id].start,
                ),
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


def _tenant(tenant_id: str, content: pa.Table, histories: pa.Table, depth: int) -> pa.Table | None:
    items = pc.dictionary_encode(content.column("item_id")).combine_chunks()
    features = pc.dictionary_encode(content.column("feature")).combine_chunks()
    item_ids = items.dictionary
    matrix = sp.csr_matrix(
        (
            content.column("weight").to_numpy(zero_copy_only=False),
            (items.indices.to_numpy(), features.indices.to_numpy()),
        ),
        shape=(len(item_ids), len(features.dictionary)),
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
    history = sp.csr_matrix(
        (np.ones(int(known.sum())), (customer_codes, column[known].astype(np.int64))),
        shape=(len(customers.dictionary), len(item_ids)),
    )
    history.data[:] = 1.0  # an item counts once, however often it was bought
    customer, new_item, score, because, rank = recommend(history, neighbours, depth)
    new_ids = item_ids.take(pa.array(np.flatnonzero(is_new)[new_item]))
    return pa.table(
        {
            "tenant_id": pa.array([tenant_id], pa.string()).take(np.zeros(len(customer), np.int32)),
            "customer_id": customers.dictionary.take(pa.array(customer)),
            "item_id": new_ids,
            "score": pa.array(score, pa.float64()),
            "rank": pa.array(rank, pa.int64()),
            "because_item_id": item_ids.take(pa.array(because)),
        },
        schema=SCHEMA,
    )


def _ranks(customer: np.ndarray) -> np.ndarray:
    """1, 2, ... within each run of equal values."""
    if not len(customer):
        return np.zeros(0, np.int64)
    starts = np.flatnonzero(np.r_[True, customer[1:] != customer[:-1]])
    return np.arange(len(customer)) - np.repeat(starts, np.diff(np.r_[starts, len(customer)])) + 1
