"""The interface every algorithm implements, in the style of implicit's ``RecommenderBase``.

A :class:`Algorithm` is fitted on a customers x items matrix of non-negative affinities and
then answers two questions in numpy batches: which items to recommend to a customer (with an
explanation: the history item that contributed most), and which items are similar to an item.
Subclasses only provide a dense score block for a batch of rows and the contribution of each
history item to each recommended item; batching, exclusions, top-n, padding and validation
live here, once.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, Self

import numpy as np
import scipy.sparse as sp
import threadpoolctl

from recsql.engine.algorithms.topn import segment_argmax, topn

__all__ = ["Algorithm", "as_user_items", "training_matrix"]


def as_user_items(user_items: sp.spmatrix | sp.sparray, *, copy: bool = False) -> sp.csr_matrix:
    """``user_items`` as a canonical float32 ``csr_matrix`` of finite, non-negative values.

    Duplicate entries are summed and explicit zeros dropped (zero means "no interaction").
    The input is never modified; with ``copy=False`` the result may share its arrays.

    Raises
    ------
    ValueError
        If the input is not 2-D sparse or holds negative or non-finite values.
    """
    if not sp.issparse(user_items) or user_items.ndim != 2:
        raise ValueError(f"user_items must be a 2-D scipy sparse matrix, got {type(user_items)}")
    matrix = sp.csr_matrix(user_items, dtype=np.float32, copy=copy)
    if not copy and not (matrix.has_canonical_format and np.all(matrix.data)):
        # csr_matrix() may share arrays with the input: never fix them in place.
        matrix = matrix.copy()
    matrix.sum_duplicates()
    if matrix.nnz and not (np.all(np.isfinite(matrix.data)) and matrix.data.min() >= 0):
        raise ValueError("user_items must hold finite, non-negative values")
    if not np.all(matrix.data):
        matrix.eliminate_zeros()
    return matrix


def training_matrix(user_items: sp.spmatrix | sp.sparray) -> sp.csr_matrix:
    """:func:`as_user_items` for ``fit``, which also needs at least one item."""
    matrix = as_user_items(user_items)
    if matrix.shape[1] == 0:
        raise ValueError("user_items has no items (columns): nothing to fit")
    return matrix


class Algorithm(ABC):
    """Base class of the recommendation algorithms.

    Rows of ``user_items`` are customers, columns are items, values are non-negative
    affinities (zero = no interaction). Fitted attributes end with ``_``; ``fit`` returns
    ``self``.
    """

    #: The value of a tenant's ``algorithm`` setting that names this algorithm.
    name: ClassVar[str]
    #: The variants every tenant's offline evaluation tries (None: the algorithm has one).
    variants: ClassVar[tuple[str | None, ...]] = (None,)

    #: Number of items (columns) seen in ``fit``.
    n_items_: int

    @classmethod
    @abstractmethod
    def from_settings(
        cls, settings: Mapping[str, Any], variant: str | None = None, num_threads: int = 1
    ) -> Self:
        """The model a tenant's settings (a row of ``tenant_settings``) ask for."""

    @abstractmethod
    def fit(self, user_items: sp.csr_matrix) -> Self:
        """Fit the model on a customers x items matrix of non-negative affinities."""

    @abstractmethod
    def _user_scores(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        """Dense ``(len(users), n_items_)`` scores; ``history`` holds the same rows."""

    @abstractmethod
    def _contributions(self, history: sp.csr_matrix, items: np.ndarray) -> np.ndarray:
        """How much each stored history entry contributes to each recommended item.

        ``history`` is a canonical CSR batch, ``items`` the ``(rows, n)`` recommended items
        (all valid indices). Returns ``(history.nnz, n)``: row ``e`` is the entry ``e`` of
        ``history`` (in CSR order), column ``k`` the item ``items[row of e, k]``.
        """

    @abstractmethod
    def _item_scores(self, items: np.ndarray) -> np.ndarray:
        """Dense ``(len(items), n_items_)`` similarities of ``items`` to every item."""

    def _check_users(self, users: np.ndarray, n_rows: int) -> None:
        """Raise if a row index cannot be scored (subclasses may narrow the range)."""
        if users.size and (users.min() < 0 or users.max() >= n_rows):
            raise IndexError(f"users must be row indices in [0, {n_rows})")

    def recommend(
        self,
        user_items: sp.csr_matrix,
        users: np.ndarray,
        n: int,
        *,
        exclude: sp.csr_matrix | None = None,
        batch_size: int = 1000,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Top-n items for each customer, with their scores and an explanation.

        Parameters
        ----------
        user_items
            Customers x items affinities with the same row indexing as in ``fit``; the rows of
            ``users`` give their history.
        users
            Row indices to recommend for (any order, repeats allowed).
        n
            Number of items per customer.
        exclude
            Optional sparse matrix with the same shape as ``user_items``; its stored non-zero
            entries are never returned (e.g. ``user_items`` itself for "not bought yet").
        batch_size
            Customers scored per numpy batch; the largest dense block is
            ``batch_size x n_items``, one per thread (a model with ``num_threads`` other than
            1 scores that many batches at once, 0: one per core). Results depend on neither.

        Returns
        -------
        items : ndarray of int32, shape (len(users), n)
            Item indices, best first (ties to the lower index); padded with ``-1``.
        scores : ndarray of float32, shape (len(users), n)
            Their scores; padded with ``-inf``.
        explanations : ndarray of int32, shape (len(users), n)
            For each recommended item, the customer's history item that contributed most
            (never the item itself); ``-1`` if none contributed positively or for padding.
        """
        self._check_fitted()
        users = _as_indices(users, "users")
        user_items = as_user_items(user_items)
        n_rows, n_items = user_items.shape
        if n_items != self.n_items_:
            raise ValueError(f"user_items has {n_items} items, the model {self.n_items_}")
        if exclude is not None:
            if exclude.shape != user_items.shape:
                raise ValueError(
                    f"exclude has shape {exclude.shape}, user_items {user_items.shape}"
                )
            exclude = sp.csr_matrix(exclude)
        self._check_users(users, n_rows)
        _check_counts(n, batch_size)

        items = np.empty((users.size, n), dtype=np.int32)
        scores = np.empty((users.size, n), dtype=np.float32)
        explanations = np.empty((users.size, n), dtype=np.int32)

        def score(start: int) -> None:
            batch = users[start : start + batch_size]
            history = user_items[batch]
            batch_items, batch_scores = topn(
                self._user_scores(batch, history),
                n,
                exclude=None if exclude is None else exclude[batch],
                overwrite_scores=True,
            )
            end = start + batch.size
            items[start:end] = batch_items
            scores[start:end] = batch_scores
            explanations[start:end] = self._explain(history, batch_items)

        starts = range(0, users.size, batch_size)
        threads = min(len(starts), _scoring_threads(self))
        if threads <= 1:
            for start in starts:
                score(start)
        else:
            # Batches are independent and each writes its own rows: the same arrays on any
            # number of threads. The numpy and scipy work of a batch releases the GIL; BLAS
            # (ALS's products) runs one thread per batch instead of competing with the others.
            with (
                threadpoolctl.threadpool_limits(limits=1, user_api="blas"),
                ThreadPoolExecutor(max_workers=threads) as pool,
            ):
                list(pool.map(score, starts))
        return items, scores, explanations

    def similar_items(
        self, items: np.ndarray, n: int, *, batch_size: int = 1000
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` items most similar to each of ``items`` (never the item itself).

        Returns
        -------
        similar : ndarray of int32, shape (len(items), n)
            Item indices, most similar first (ties to the lower index); padded with ``-1``.
        scores : ndarray of float32, shape (len(items), n)
            Their similarities; padded with ``-inf``.
        """
        self._check_fitted()
        items = _as_indices(items, "items")
        if items.size and (items.min() < 0 or items.max() >= self.n_items_):
            raise IndexError(f"items must be item indices in [0, {self.n_items_})")
        _check_counts(n, batch_size)
        similar = np.empty((items.size, n), dtype=np.int32)
        scores = np.empty((items.size, n), dtype=np.float32)
        for start in range(0, items.size, batch_size):
            batch = items[start : start + batch_size]
            itself = sp.csr_matrix(
                (np.ones(batch.size, dtype=np.float32), batch, np.arange(batch.size + 1)),
                shape=(batch.size, self.n_items_),
            )
            end = start + batch.size
            similar[start:end], scores[start:end] = topn(
                self._item_scores(batch), n, exclude=itself, overwrite_scores=True
            )
        return similar, scores

    def _explain(self, history: sp.csr_matrix, items: np.ndarray) -> np.ndarray:
        """For each recommended item, the history item with the largest contribution."""
        padded = items < 0
        valid_items = np.where(padded, 0, items)
        contributions = self._contributions(history, valid_items)
        entry_rows = np.repeat(np.arange(history.shape[0]), np.diff(history.indptr))
        # An item never explains itself (relevant for "buy again").
        contributions[history.indices[:, None] == valid_items[entry_rows]] = -np.inf
        explanations = segment_argmax(contributions, history.indptr, history.indices)
        explanations[padded] = -1
        return explanations

    def _check_fitted(self) -> None:
        if not hasattr(self, "n_items_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted yet: call fit first")


def _scoring_threads(model: Algorithm) -> int:
    """The threads :meth:`Algorithm.recommend` scores batches on: the model's ``num_threads``
    (0: one per core; 1, the default of the many small tenants fitted side by side in worker
    processes: batches one after the other)."""
    threads = getattr(model, "num_threads", 1)
    return threads or os.cpu_count() or 1


def _as_indices(values: np.ndarray, what: str) -> np.ndarray:
    indices = np.asarray(values)
    if indices.ndim != 1:
        raise ValueError(f"{what} must be 1-D, got shape {indices.shape}")
    if indices.size == 0:
        return indices.astype(np.int64)
    if not np.issubdtype(indices.dtype, np.integer):
        raise ValueError(f"{what} must be integer indices, got {indices.dtype}")
    return indices.astype(np.int64, copy=False)


def _check_counts(n: int, batch_size: int) -> None:
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
