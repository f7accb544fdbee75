"""Overhead of :class:`recsql.engine.algorithms.ALS` over calling implicit directly.

Usage: ``.venv/bin/python benchmarks/als_overhead.py [--repeats 5] [--threads 1]``

Builds a random sparse matrix shaped like the UCI Online Retail demo (4,339 customers x
3,665 items, ~266k non-zeros, skewed item popularity and customer activity), then times, in
the same process and interleaved:

- ``recsql``: ``ALS(...).fit(X)`` (validation, BLAS limited to one thread, implicit, copies);
- ``implicit``: ``implicit.cpu.als.AlternatingLeastSquares(...).fit(X)`` with the same
  parameters on the same float32 CSR matrix, with BLAS limited to one thread the way implicit
  asks (the like-for-like reference);
- ``implicit, BLAS unlimited``: the same direct call without limiting BLAS, for information
  (what a caller gets who ignores implicit's warning).

Prints the median and minimum of each, the ratios recsql / implicit, and the wrapper's own
work timed alone (validation plus the arrays derived from the factors), which is what the
ratio measures once the noise of a shared machine is taken out.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
import threadpoolctl
from implicit.cpu.als import AlternatingLeastSquares

from recsql.engine.algorithms import ALS
from recsql.engine.algorithms.base import training_matrix

CUSTOMERS, ITEMS, NON_ZEROS = 4_339, 3_665, 266_000


def online_retail_like(seed: int = 0) -> sp.csr_matrix:
    """Random customers x items matrix with the Online Retail shape and skew.

    Item popularity follows a Zipf-like law, customer activity a log-normal; values are
    ``log1p`` of a purchase count, as the weighting models produce.
    """
    rng = np.random.default_rng(seed)
    item_weight = 1.0 / (np.arange(ITEMS) + 20.0) ** 0.9
    item_weight /= item_weight.sum()
    activity = rng.lognormal(mean=0.0, sigma=1.1, size=CUSTOMERS)
    activity /= activity.sum()
    pairs = np.empty(0, dtype=np.int64)
    while pairs.size < NON_ZEROS:
        draw = 2 * (NON_ZEROS - pairs.size)
        users = rng.choice(CUSTOMERS, size=draw, p=activity)
        items = rng.permutation(ITEMS)[rng.choice(ITEMS, size=draw, p=item_weight)]
        pairs = np.unique(np.concatenate([pairs, users * ITEMS + items]))
    pairs = rng.choice(pairs, size=NON_ZEROS, replace=False)
    values = np.log1p(rng.geometric(0.4, size=NON_ZEROS)).astype(np.float32)
    matrix = sp.csr_matrix(
        (values, (pairs // ITEMS, pairs % ITEMS)), shape=(CUSTOMERS, ITEMS), dtype=np.float32
    )
    matrix.sum_duplicates()
    return matrix


def seconds(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="implicit's num_threads")
    args = parser.parse_args()

    matrix = online_retail_like()
    params = dict(
        factors=64, regularization=0.05, alpha=10.0, iterations=15, random_state=0,
        num_threads=args.threads,
    )  # fmt: skip

    def recsql_fit() -> object:
        return ALS(**params).fit(matrix)

    def implicit_fit() -> object:
        with threadpoolctl.threadpool_limits(1, "blas"):
            return AlternatingLeastSquares(**params).fit(matrix, show_progress=False)

    def implicit_unlimited_fit() -> object:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return AlternatingLeastSquares(**params).fit(matrix, show_progress=False)

    runs: dict[str, Callable[[], object]] = {
        "recsql ALS.fit": recsql_fit,
        "implicit fit (BLAS 1 thread)": implicit_fit,
        "implicit fit (BLAS unlimited)": implicit_unlimited_fit,
    }
    for run in runs.values():  # warm up: imports, page faults, thread pools
        run()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for repeat in range(args.repeats):
        # Alternate the order so that drift on a shared machine hits every variant alike.
        order = list(runs.items()) if repeat % 2 == 0 else list(runs.items())[::-1]
        for name, run in order:
            times[name].append(seconds(run))

    # The wrapper's own work, timed alone: input validation plus what fit derives from the
    # factors (contiguous float32 copies, float64 copies, unit directions for cosines).
    fitted = recsql_fit()
    own_work = statistics.median(
        seconds(lambda: training_matrix(matrix))
        + seconds(lambda: fitted._store_factors(fitted.user_factors_, fitted.item_factors_))
        for _ in range(20)
    )

    blas = [
        info["num_threads"]
        for info in threadpoolctl.threadpool_info()
        if info["user_api"] == "blas"
    ]
    print(
        f"matrix {matrix.shape[0]:,} x {matrix.shape[1]:,}, {matrix.nnz:,} non-zeros; "
        f"factors 64, iterations 15, implicit num_threads {args.threads}, "
        f"BLAS threads outside fit {blas}; {args.repeats} repeats"
    )
    medians = {name: statistics.median(values) for name, values in times.items()}
    minima = {name: min(values) for name, values in times.items()}
    for name in runs:
        spread = ", ".join(f"{value:.3f}" for value in times[name])
        print(f"  {name:<30} median {medians[name]:6.3f} s  min {minima[name]:6.3f} s  ({spread})")
    ours = "recsql ALS.fit"
    for reference in ("implicit fit (BLAS 1 thread)", "implicit fit (BLAS unlimited)"):
        print(
            f"  ratio recsql / {reference:<30} median {medians[ours] / medians[reference]:.3f}"
            f"  min {minima[ours] / minima[reference]:.3f}"
        )
    print(
        f"  wrapper's own work (validation + derived arrays): {own_work * 1000:.1f} ms "
        f"= {own_work / medians['implicit fit (BLAS 1 thread)']:.2%} of the implicit fit"
    )


if __name__ == "__main__":
    main()
