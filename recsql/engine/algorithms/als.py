"""Implicit-feedback matrix factorisation (ALS), a thin wrapper over ``implicit``.

Fitting is delegated to :class:`implicit.cpu.als.AlternatingLeastSquares` (the CPU class,
never the GPU factory ``implicit.als.AlternatingLeastSquares``), with BLAS limited to one
thread while it runs: implicit parallelises over users itself and a multi-threaded BLAS
inside that loop makes it several times slower (implicit warns about it). Scoring,
explanations, similar items and fold-in are batched numpy here.

Confidence
----------
implicit multiplies the matrix by ``alpha`` and uses the product as the confidence of each
observed entry: ``c_ui = alpha * value`` with preference ``p_ui = 1``; unobserved entries
have ``c_ui = 1`` and ``p_ui = 0``. (Hu, Koren & Volinsky write ``c_ui = 1 + alpha * r_ui``;
implicit and this wrapper do not add the 1.) :func:`fold_in` uses the same convention.

Threads
-------
BLAS thread limits are process-wide. Fits running concurrently in threads of one process
share them (threadpoolctl lets the first thread control OpenBLAS); to fit tenants in
parallel, prefer processes, or start the workers with ``OPENBLAS_NUM_THREADS=1``.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import threadpoolctl
from implicit.cpu.als import AlternatingLeastSquares

from recsql.engine.algorithms.base import Algorithm, as_user_items, training_matrix

__all__ = ["ALS", "fold_in"]

logger = logging.getLogger(__name__)

#: Entries x recommended items x factors handled per step when computing explanations.
_EXPLAIN_CHUNK = 1 << 21
#: Up to this many items, explanations look their cosines up in the items' cosine matrix
#: (32 MiB at most), computed once per model: a small tenant's explanations took half the
#: time of its recommendations when each history entry's cosines were computed anew.
_COSINE_MATRIX_ITEMS = 2048


@functools.cache
def _threadpools() -> threadpoolctl.ThreadpoolController:
    """One controller per process: inspecting the loaded libraries costs about a millisecond,
    limiting through a known controller a few microseconds (thousands of small tenants).

    Created at the first fit, after this module has imported implicit and with it the BLAS
    that implicit calls.
    """
    return threadpoolctl.ThreadpoolController()


@dataclass(eq=False, kw_only=True)
class ALS(Algorithm):
    """Implicit ALS (Hu, Koren & Volinsky 2008) fitted with ``implicit``'s conjugate gradient.

    Parameters
    ----------
    factors
        Latent dimensions. 64 suits catalogues of a few thousand items.
    regularization
        L2 penalty on the factors (implicit's ``regularization``), > 0.
    alpha
        Confidence scale: an observed entry has confidence ``alpha * value`` (see the module
        docstring; not ``1 + alpha * value``), unobserved entries 1.
    iterations
        ALS sweeps (users then items).
    random_state
        Seed of the initial factors; a fixed seed makes ``fit`` deterministic.
    num_threads
        implicit's own (OpenMP) threads; 0 means all cores. Defaults to 1 because the
        pipeline fits many tenants side by side. BLAS is always limited to 1 thread in ``fit``.

    Attributes
    ----------
    user_factors_ : ndarray of float32, shape (n_users, factors)
    item_factors_ : ndarray of float32, shape (n_items, factors)

    Notes
    -----
    - Score of item ``j`` for customer ``u``: ``user_factors_[u] . item_factors_[j]``
      (computed in float64, returned as float32, so results do not depend on the batch).
    - Explanation: the customer's history item whose factors have the highest cosine
      similarity with ``j``'s (never ``j`` itself; ``-1`` if no cosine is positive).
    - ``similar_items``: cosine similarity of item factors.
    - Customers with an empty row in ``fit`` get zero factors (implicit's convention), so
      every score is 0 and the first items by index come back: use popularity for them.
    """

    name: ClassVar[str] = "als"

    factors: int = 64
    regularization: float = 0.05
    alpha: float = 10.0
    iterations: int = 15
    random_state: int | None = 0
    num_threads: int = 1

    user_factors_: np.ndarray = field(init=False, repr=False)
    item_factors_: np.ndarray = field(init=False, repr=False)
    n_items_: int = field(init=False, repr=False)
    #: ``item_factors_`` in float64, for scoring (see ``_user_scores``).
    _item_factors: np.ndarray = field(init=False, repr=False)
    #: Item factors scaled to unit length (zero rows stay zero), float64: cosines.
    _item_directions: np.ndarray = field(init=False, repr=False)
    #: Their cosines, items x items, once explanations need them (small catalogues only).
    _item_cosines: np.ndarray | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        if self.factors < 1:
            raise ValueError(f"factors must be >= 1, got {self.factors}")
        if not self.regularization > 0:
            raise ValueError(f"regularization must be > 0, got {self.regularization}")
        if not self.alpha > 0:
            raise ValueError(f"alpha must be > 0, got {self.alpha}")
        if self.iterations < 1:
            raise ValueError(f"iterations must be >= 1, got {self.iterations}")
        if self.num_threads < 0:
            raise ValueError(f"num_threads must be >= 0, got {self.num_threads}")

    @classmethod
    def from_settings(
        cls, settings: Mapping[str, Any], variant: str | None = None, num_threads: int = 1
    ) -> Self:
        """ALS with a tenant's ``als_*`` settings (there are no variants)."""
        return cls(
            factors=int(settings["als_factors"]),
            regularization=float(settings["als_regularization"]),
            alpha=float(settings["als_alpha"]),
            iterations=int(settings["als_iterations"]),
            num_threads=num_threads,
        )

    def fit(self, user_items: sp.csr_matrix) -> Self:
        """Factorise ``user_items`` (customers x items, non-negative affinities)."""
        matrix = training_matrix(user_items)
        started = time.perf_counter()
        # implicit checks the BLAS threads when the model is created, so create it inside too.
        with _threadpools().limit(limits=1, user_api="blas"):
            model = AlternatingLeastSquares(
                factors=self.factors,
                regularization=self.regularization,
                alpha=self.alpha,
                iterations=self.iterations,
                random_state=self.random_state,
                num_threads=self.num_threads,
            )
            model.fit(matrix, show_progress=False)
        self._store_factors(model.user_factors, model.item_factors)
        logger.debug(
            "ALS fitted %d users x %d items (%d non-zeros) in %.3f s",
            matrix.shape[0],
            matrix.shape[1],
            matrix.nnz,
            time.perf_counter() - started,
        )
        return self

    def with_factors(self, user_factors: np.ndarray, item_factors: np.ndarray) -> Self:
        """This model with factors fitted earlier (e.g. by :meth:`fit` on the same matrix in
        another step of the build) instead of fitting: scores, explanations and fold-in as
        if :meth:`fit` had produced them."""
        for name, factors in (("user_factors", user_factors), ("item_factors", item_factors)):
            if factors.ndim != 2 or factors.shape[1] != self.factors:
                raise ValueError(f"{name} must have {self.factors} columns, got {factors.shape}")
        self._store_factors(user_factors, item_factors)
        return self

    def with_item_factors(self, item_factors: np.ndarray, user_items: sp.csr_matrix) -> Self:
        """This model with stored item factors (what a version of ALS keeps) instead of a fit:
        the customers' factors are folded in from their rows of ``user_items`` - one exact
        least-squares solve per customer, implicit's own user update (``recalculate_user``),
        the :func:`fold_in` of every row at once."""
        item_factors = np.ascontiguousarray(item_factors, dtype=np.float32)
        if item_factors.ndim != 2 or item_factors.shape[1] != self.factors:
            raise ValueError(
                f"item_factors must have {self.factors} columns, got {item_factors.shape}"
            )
        matrix = as_user_items(user_items)
        if matrix.shape[1] != item_factors.shape[0]:
            raise ValueError(
                f"user_items has {matrix.shape[1]} items, item_factors {item_factors.shape[0]}"
            )
        with _threadpools().limit(limits=1, user_api="blas"):
            model = AlternatingLeastSquares(
                factors=self.factors,
                regularization=self.regularization,
                alpha=self.alpha,
                num_threads=self.num_threads,
            )
            model.item_factors = item_factors
            users = model.recalculate_user(np.arange(matrix.shape[0]), matrix)
        self._store_factors(np.asarray(users), item_factors)
        return self

    def _store_factors(self, user_factors: np.ndarray, item_factors: np.ndarray) -> None:
        """Keep fitted factors and what scoring, explanations and fold-in derive from them."""
        self.user_factors_ = np.ascontiguousarray(user_factors, dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(item_factors, dtype=np.float32)
        self.n_items_ = self.item_factors_.shape[0]
        self._item_factors = self.item_factors_.astype(np.float64)
        norms = np.linalg.norm(self._item_factors, axis=1, keepdims=True)
        self._item_directions = self._item_factors / np.where(norms > 0, norms, 1)
        self._item_cosines = None

    def _check_users(self, users: np.ndarray, n_rows: int) -> None:
        super()._check_users(users, min(n_rows, self.user_factors_.shape[0]))

    def _user_scores(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        """``user . item`` in float64, rounded to float32.

        A float32 BLAS product sums in an order that depends on the batch shape (a single
        row goes through gemv, small blocks through other kernels), so the last bit of a
        score, and with it the order of near-ties, would change with ``batch_size``. Products
        of float32 numbers are exact in float64 and the rounding to float32 absorbs the
        summation-order differences.
        """
        users_factors = self.user_factors_[users].astype(np.float64)
        return (users_factors @ self._item_factors.T).astype(np.float32)

    def _contributions(self, history: sp.csr_matrix, items: np.ndarray) -> np.ndarray:
        """Cosine of each history item's factors with each recommended item's factors: looked
        up in the items' cosine matrix up to ``_COSINE_MATRIX_ITEMS`` items, computed a chunk
        of entries at a time above."""
        directions = self._item_directions
        entries, n = history.nnz, items.shape[1]
        entry_rows = np.repeat(np.arange(history.shape[0]), np.diff(history.indptr))
        if self.n_items_ <= _COSINE_MATRIX_ITEMS:
            if self._item_cosines is None:  # batches scored on threads may both make it
                self._item_cosines = directions @ directions.T
            return self._item_cosines[history.indices[:, None], items[entry_rows]]
        recommended = directions[items]  # (rows, n, factors)
        out = np.empty((entries, n), dtype=np.float64)
        step = max(1, _EXPLAIN_CHUNK // max(1, n * self.factors))
        for start in range(0, entries, step):
            stop = min(start + step, entries)
            seen = directions[history.indices[start:stop]]  # (chunk, factors)
            out[start:stop] = np.matmul(recommended[entry_rows[start:stop]], seen[:, :, None])[
                :, :, 0
            ]
        return out

    def _item_scores(self, items: np.ndarray) -> np.ndarray:
        """Cosine similarities, in float64 rounded to float32 like ``_user_scores``."""
        return (self._item_directions[items] @ self._item_directions.T).astype(np.float32)


def fold_in(
    item_factors: np.ndarray,
    item_indices: np.ndarray,
    weights: np.ndarray | None = None,
    *,
    alpha: float,
    regularization: float,
    item_gram: np.ndarray | None = None,
) -> np.ndarray:
    """Factor vector of a customer not seen in ``fit``, from the items they interacted with.

    One exact regularised least-squares solve against fitted item factors ``Y``, the same user
    update implicit performs: ``(Y^T C Y + regularization I) x = Y^T C p`` with confidence
    ``alpha * weight`` on the given items (repeated items add up) and 1 elsewhere. Needs only
    the item factors and the two parameters, so a served database can fold customers in.

    Parameters
    ----------
    item_factors
        ``Y``, shape (n_items, factors).
    item_indices
        Items of the customer (row indices of ``item_factors``).
    weights
        Affinity of each item, like the values of ``user_items``; default 1.
    item_gram
        ``Y^T Y`` in float64, if the caller keeps it (it does not depend on the customer).

    Returns
    -------
    ndarray of float32, shape (factors,)
        Zero when there are no items (as implicit does for empty users). Score items with
        ``item_factors @ factor``.
    """
    factors_all = np.asarray(item_factors, dtype=np.float64)
    n_items, n_factors = factors_all.shape
    items = np.asarray(item_indices, dtype=np.int64).ravel()
    if weights is None:
        weights = np.ones(items.size)
    weights = np.asarray(weights, dtype=np.float64).ravel()
    if weights.size != items.size:
        raise ValueError(f"{weights.size} weights for {items.size} items")
    if items.size and (items.min() < 0 or items.max() >= n_items):
        raise IndexError(f"item_indices must be in [0, {n_items})")
    if not (np.all(np.isfinite(weights)) and np.all(weights >= 0)):
        raise ValueError("weights must be finite and non-negative")
    items, position = np.unique(items, return_inverse=True)
    confidence = alpha * np.bincount(position, weights=weights, minlength=items.size)
    observed = confidence > 0
    items, confidence = items[observed], confidence[observed]
    if items.size == 0:
        return np.zeros(n_factors, dtype=np.float32)
    if item_gram is None:
        item_gram = factors_all.T @ factors_all
    factors = factors_all[items]
    lhs = item_gram + (factors.T * (confidence - 1)) @ factors
    lhs[np.diag_indices_from(lhs)] += regularization
    rhs = factors.T @ confidence
    solution = scipy.linalg.solve(lhs, rhs, assume_a="pos", check_finite=False)
    return solution.astype(np.float32)
