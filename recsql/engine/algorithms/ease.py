"""EASE: the closed-form item-item linear model of Steck (2019).

``G = X^T X + lambda I``, ``P = G^-1``, ``B = -P / diag(P)`` (column ``j`` divided by
``P_jj``) and ``diag(B) = 0``. A customer's score for item ``j`` is ``X_u . B[:, j]``, so
``B[i, j]`` is the weight that having item ``i`` in the history gives to item ``j``.

The fit is dense in the number of items: its peak memory is at most ``12 n_items^2`` bytes (a
float64 Gram matrix inverted in place, plus the float32 weights; ``4 n_items^2`` when it runs in
single precision, below), so it suits catalogues up to a few ten thousand items
(:meth:`EASE.peak_memory_bytes` estimates it). A large catalogue is inverted in single
precision when the Gram matrix is well enough conditioned for that to change the weights by
less than 1 % at worst, by a loose bound (:func:`_precision`; measured: a few millionths):
half the time of the double-precision inversion.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Self, cast

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import threadpoolctl

from recsql.engine.algorithms.base import Algorithm, training_matrix

__all__ = ["EASE", "largest_weights", "strongest_weights"]

logger = logging.getLogger(__name__)

#: Items (columns or rows) per block when building the Gram matrix and the weights.
_BLOCK = 256
#: Up to this many items, stored weights are scored as a dense matrix (256 MiB at most).
_DENSE_ITEMS = 8192
#: Above this many items the fit runs BLAS on one thread: the OpenBLAS of numpy's and scipy's
#: wheels (0.3.30, 0.3.31) crashes the process (SIGSEGV) in threaded products of about
#: 19,000 x 19,000 and more (measured on 2 cores: a 20,000-item fit and a plain numpy
#: product of that size; one thread runs both). Safe, at twice the time there.
_THREADED_ITEMS = 16_000
#: Above this many items the Gram matrix may be inverted in single precision (half the time:
#: 18 s instead of 35 s for 15,000 items on 2 cores, 0.36 s instead of 0.65 s for the demo's
#: 3,633, whose weights move by 1e-6 of the largest); up to it the inversion takes a tenth of
#: a second at most and is exact to float64.
_SINGLE_PRECISION_ITEMS = 1024
#: The largest bound on the relative error of a single-precision inverse (the bound on the
#: condition number times float32's machine epsilon) for which it is used instead of a double
#: one. The bound is loose: 1.0e-3 for the binary fit of the 20 M-interaction benchmark
#: tenant, whose weights differ from float64's by 3e-6 (relative to the largest).
_SINGLE_PRECISION_ERROR = 1e-2


@dataclass(eq=False, kw_only=True)
class EASE(Algorithm):
    """Embarrassingly Shallow Autoencoder (Steck 2019), solved in closed form.

    Parameters
    ----------
    regularization
        ``lambda`` added to the diagonal of ``X^T X`` (> 0). Steck uses a few hundred for
        binary data; 500 is the middle of the range that works on retail baskets.
    values
        What ``X`` holds: ``"sqrt"`` (default) the square root of the affinities, ``"binary"``
        ``X > 0``, ``"linear"`` the affinities as they are. The affinities carry the time
        decay, so ``"sqrt"`` and ``"linear"`` let recent behaviour shape ``B`` - which matters
        when co-purchases drift with the seasons - while the square root keeps heavy
        histories from dominating the Gram matrix. On the Online Retail protocol (see
        docs/benchmarks/accuracy.md) the square root beat the binary matrix clearly.
    num_threads
        Threads that build the Gram matrix ``X^T X``; 0 means one per core. Defaults to 1
        because the pipeline fits many tenants side by side. The inversion runs on BLAS's
        own threads.

    Attributes
    ----------
    item_weights_ : ndarray of float32, shape (n_items, n_items)
        ``B``: ``item_weights_[i, j]`` is the weight of history item ``i`` for item ``j``;
        the diagonal is zero. Not symmetric in general.

    Notes
    -----
    - Score of item ``j`` for customer ``u``: ``X_u . B[:, j]``, with ``X_u`` transformed as
      ``values`` says.
    - Explanation: ``argmax_i X_ui * B[i, j]`` over the customer's history items ``i``
      (never ``j`` itself; ``-1`` if no contribution is positive).
    - ``similar_items(i)``: row ``i`` of ``B``, ``B[i, j]`` for every ``j`` -- how much having
      ``i`` raises ``j``; exactly the scores for a customer whose only history is ``i`` (what
      "customers who bought i" and real-time "looking at i" requests need).
    """

    name: ClassVar[str] = "ease"
    #: EASE learns from the square roots of the affinities (recency and quantity shape the item
    #: weights) or from the binarised matrix (every interaction counts the same): which one wins
    #: depends on the tenant's data (views and clicks, seasons), so each tenant's holdout decides.
    variants: ClassVar[tuple[str | None, ...]] = ("sqrt", "binary")

    regularization: float = 500.0
    values: Literal["sqrt", "binary", "linear"] = "sqrt"
    num_threads: int = 1

    item_weights_: np.ndarray = field(init=False, repr=False)
    n_items_: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.values not in ("sqrt", "binary", "linear"):
            raise ValueError(f"values must be sqrt, binary or linear, got {self.values!r}")
        if not self.regularization > 0:
            raise ValueError(f"regularization must be > 0, got {self.regularization}")
        if self.num_threads < 0:
            raise ValueError(f"num_threads must be >= 0, got {self.num_threads}")

    @classmethod
    def from_settings(
        cls, settings: Mapping[str, Any], variant: str | None = None, num_threads: int = 1
    ) -> Self:
        """EASE with a tenant's ``ease_lambda``; ``variant`` is ``values`` (default sqrt);
        ``num_threads`` build the Gram matrix."""
        values = cast(Literal["sqrt", "binary", "linear"], variant or "sqrt")
        return cls(
            regularization=float(settings["ease_lambda"]), values=values, num_threads=num_threads
        )

    @staticmethod
    def peak_memory_bytes(n_items: int) -> int:
        """Estimated peak memory of :meth:`fit` for ``n_items`` items, in bytes.

        A float64 ``n_items^2`` Gram matrix (inverted in place), the float32 weights, and a
        few float64 ``block x n_items`` temporaries. The input matrix is not counted.
        An upper bound: a fit in single precision (:func:`_precision`) needs a third of it.
        """
        block = min(n_items, _BLOCK)
        return 12 * n_items * n_items + 48 * block * n_items

    def fit(self, user_items: sp.csr_matrix) -> Self:
        """Compute ``B`` from ``user_items`` (customers x items, non-negative affinities)."""
        matrix = self._prepare(training_matrix(user_items))
        n_items = matrix.shape[1]
        started = time.perf_counter()
        dtype = _precision(matrix, self.regularization)
        gram = _gram(matrix, self.num_threads or os.cpu_count() or 1, dtype)
        gram[np.diag_indices(n_items)] += self.regularization
        with (
            threadpoolctl.threadpool_limits(limits=1, user_api="blas")
            if n_items > _THREADED_ITEMS
            else contextlib.nullcontext()
        ):
            self.item_weights_ = _weights_from_gram(gram)
        self.n_items_ = n_items
        logger.debug(
            "EASE fitted %d users x %d items (%d non-zeros, %s) in %.3f s",
            matrix.shape[0],
            n_items,
            matrix.nnz,
            np.dtype(dtype).name,
            time.perf_counter() - started,
        )
        return self

    def with_weights(self, weights: sp.csr_matrix) -> Self:
        """This model with stored weights instead of a fit: ``weights[i, j]`` as in
        ``item_weights_``, sparse (e.g. the largest weights of each item, what a version of
        the model keeps: :func:`largest_weights`). Scores, explanations and similar items as if
        :meth:`fit` had produced them."""
        if weights.ndim != 2 or weights.shape[0] != weights.shape[1]:
            raise ValueError(f"weights must be square, got shape {weights.shape}")
        n_items = weights.shape[0]
        # scored dense where that fits (numpy's indexing and products are far faster than
        # scipy's sparse ones), sparse above: the same values either way
        matrix = sp.csr_matrix(weights, dtype=np.float32)
        self.item_weights_ = matrix.toarray() if n_items <= _DENSE_ITEMS else matrix
        self.n_items_ = n_items
        return self

    def _prepare(self, matrix: sp.csr_matrix) -> sp.csr_matrix:
        """The matrix the model sees: the affinities transformed as ``values`` says."""
        if self.values == "linear":
            return matrix
        data = np.sqrt(matrix.data) if self.values == "sqrt" else np.ones_like(matrix.data)
        return sp.csr_matrix((data, matrix.indices, matrix.indptr), shape=matrix.shape)

    def _user_scores(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        return _dense(self._prepare(history) @ self.item_weights_)

    def _contributions(self, history: sp.csr_matrix, items: np.ndarray) -> np.ndarray:
        """``X_ui * B[i, j]`` for each history entry ``(u, i)`` and recommended item ``j``."""
        values = self._prepare(history).data
        entry_rows = np.repeat(np.arange(history.shape[0]), np.diff(history.indptr))
        recommended = items[entry_rows]
        if sp.issparse(self.item_weights_):
            # one flat lookup: scipy answers a 2-D index of a sparse matrix with a sparse
            # matrix (built through COO), which _dense would make dense again
            seen = np.repeat(history.indices, recommended.shape[1])
            found = self.item_weights_[seen, recommended.ravel()]
            weights = _dense(found).reshape(recommended.shape)
        else:
            weights = _dense(self.item_weights_[history.indices[:, None], recommended])
        return weights * values[:, None]

    def _item_scores(self, items: np.ndarray) -> np.ndarray:
        """Row ``i`` of ``B``: the scores EASE gives every item for a history of just ``i``."""
        return _dense(self.item_weights_[items])


def _dense(values: Any) -> np.ndarray:
    """A float32 ndarray of dense or sparse (stored weights) values."""
    return np.asarray(values.toarray() if sp.issparse(values) else values, dtype=np.float32)


def _precision(matrix: sp.csr_matrix, regularization: float) -> type[np.floating[Any]]:
    """The float type to invert ``X^T X + lambda I`` in: float32 for a catalogue of more than
    ``_SINGLE_PRECISION_ITEMS`` items whose condition number is small enough that a Cholesky
    inverse in single precision is off by less than ``_SINGLE_PRECISION_ERROR`` (relative, a
    worst-case bound), float64 otherwise.

    The condition number is bounded without the matrix: its eigenvalues are at least
    ``lambda`` (``X^T X`` is positive semi-definite) and at most its largest row sum
    (Gershgorin; every entry is non-negative, so the row sums are ``X^T X 1``, two sparse
    products). On the 20 M-interaction benchmark tenant the condition bound is 490 (square
    roots) and 8,700 (binary): an error bound of 1.0e-3 at most, measured 3e-6 (binary), and
    99.8 % of its customers' top-50 lists the same as in float64 (the rest differ by
    near-ties).
    """
    if matrix.shape[1] <= _SINGLE_PRECISION_ITEMS:
        return np.float64
    row_sums = matrix.T @ (matrix @ np.ones(matrix.shape[1]))
    condition_bound = (float(row_sums.max(initial=0.0)) + regularization) / regularization
    if condition_bound * np.finfo(np.float32).eps <= _SINGLE_PRECISION_ERROR:
        return np.float32
    return np.float64


def _gram(
    matrix: sp.csr_matrix, threads: int = 1, dtype: type[np.floating[Any]] = np.float64
) -> np.ndarray:
    """Dense ``X^T X`` in ``dtype`` (each value summed in float64), its lower triangle
    (``gram[i, j]`` for ``i >= j``: the upper one is left unset - the Cholesky factorisation of
    :func:`_weights_from_gram` reads only the lower), built a block of columns at a time
    (bounded sparse temps), on ``threads`` threads (scipy's sparse products release the GIL:
    1.8 times as fast on two cores). Half the products of the whole matrix; each value summed
    as there."""
    n_items = matrix.shape[1]
    columns = matrix.astype(np.float64).tocsc()
    transposed = columns.T.tocsr()
    gram = np.empty((n_items, n_items), dtype=dtype)

    def fill(start: int) -> None:
        stop = min(start + _BLOCK, n_items)
        gram[start:, start:stop] = (transposed[start:] @ columns[:, start:stop]).toarray()

    starts = range(0, n_items, _BLOCK)
    if threads > 1 and len(starts) > 1:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(fill, starts))
    else:
        for start in starts:
            fill(start)
    return gram


def _weights_from_gram(gram: np.ndarray) -> np.ndarray:
    """``B = -P / diag(P)`` with ``diag(B) = 0``, ``P = gram^-1``, as float32.

    Inverts through a Cholesky factorisation in place (``gram``, float32 or float64, is
    overwritten): LAPACK ``potrf`` then ``potri`` on the Fortran view of the symmetric matrix,
    which leaves ``P`` in its upper triangle. ``B`` is then written a block of rows at a time:
    over ``gram`` itself when it is float32 (a block of rows reads only the rows of ``gram``
    from its first on, which are not written yet), else into a new array.
    """
    n_items = gram.shape[0]
    potrf, potri = scipy.linalg.lapack.get_lapack_funcs(("potrf", "potri"), (gram,))
    # Fortran-contiguous, same memory; its upper triangle, the only one potrf reads, is the
    # lower triangle of gram (the only one _gram fills)
    lapack_view = gram.T
    factor, info = potrf(lapack_view, lower=False, overwrite_a=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"Cholesky factorisation failed (info={info})")
    inverse, info = potri(factor, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"inversion failed (info={info})")
    # inverse[i, j] is valid for i <= j.
    diagonal = inverse.diagonal().copy()
    weights = gram if gram.dtype == np.float32 else np.empty((n_items, n_items), np.float32)
    columns = np.arange(n_items)
    for start in range(0, n_items, _BLOCK):
        stop = min(start + _BLOCK, n_items)
        rows = np.arange(start, stop)[:, None]
        block = np.where(columns >= rows, inverse[start:stop], inverse[:, start:stop].T)
        block /= -diagonal
        block[rows - start, rows] = 0.0
        weights[start:stop] = block
    return weights


def largest_weights(weights: np.ndarray, n: int) -> sp.csr_matrix:
    """The ``n`` weights of each row (item) of ``weights`` largest in magnitude, sparse: what a
    version of EASE stores. A history item's strongest weights, positive and negative, are
    what move a customer's scores most; keeping them bounds a version's size by ``n`` per
    item, and keeping every weight (``n`` >= items - 1) scores exactly as the fit does."""
    rows, columns, values = strongest_weights(weights, n)
    n_items = np.shape(weights)[0]
    return sp.csr_matrix((values, (rows, columns)), shape=(n_items, n_items))


def strongest_weights(weights: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`largest_weights` as (rows, columns, values), row by row, each row's strongest
    weight first (ties: the lower column) - the order a version stores them in, no sort
    needed."""
    from recsql.engine.algorithms.topn import topn

    weights = np.asarray(weights, dtype=np.float32)
    n_items = weights.shape[0]
    itself = sp.identity(n_items, dtype=np.float32, format="csr")
    columns, magnitudes = topn(np.abs(weights), n, exclude=itself)
    keep = (columns >= 0) & (magnitudes > 0)
    rows = np.repeat(np.arange(n_items), keep.sum(axis=1))
    columns = columns[keep]
    return rows, columns, weights[rows, columns]
