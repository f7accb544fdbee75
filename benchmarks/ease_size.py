"""Time and peak memory of one EASE fit by catalogue size: what ``ease_max_items`` costs.

Usage: ``.venv/bin/python benchmarks/ease_size.py [--items 10000 15000 20000] [--threads 2]
[--values sqrt binary]``

For each size, a child process (so that its peak resident memory is its own) builds a random
sparse matrix of 200,000 customers and 3,000,000 interactions whose item popularity is
Zipf-skewed (the way retail catalogues are), and fits
:class:`recsql.engine.algorithms.EASE` (each variant of ``--values``, ``ease_lambda`` 500) once,
BLAS limited
to ``--threads`` (above 16,000 items EASE itself runs BLAS on one thread: threaded OpenBLAS
crashes there, docs/engine.md). Prints one line per size and variant: the precision the Gram
matrix was inverted in (above 4,096 items, single where it is well conditioned), seconds, peak
RSS and the model's own memory estimate (``EASE.peak_memory_bytes``, an upper bound). A
tenant that trains fits EASE three times (each variant on the holdout fold, the champion's on
the full history): docs/engine.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

CUSTOMERS, INTERACTIONS = 200_000, 3_000_000


def fit_once(items: int, threads: int, values: str) -> dict[str, float | str]:
    import numpy as np
    import scipy.sparse as sp
    from threadpoolctl import threadpool_limits

    from recsql.engine.algorithms import EASE
    from recsql.engine.algorithms.ease import _precision

    rng = np.random.default_rng(0)
    rows = rng.integers(0, CUSTOMERS, INTERACTIONS)
    columns = rng.zipf(1.3, INTERACTIONS) % items
    matrix = sp.csr_matrix(
        (np.ones(INTERACTIONS, np.float32), (rows, columns)), shape=(CUSTOMERS, items)
    )
    matrix.sum_duplicates()
    model = EASE.from_settings({"ease_lambda": 500}, values, threads)
    precision = np.dtype(_precision(model._prepare(matrix), model.regularization)).name
    with threadpool_limits(threads):
        started = time.perf_counter()
        model.fit(matrix)
        seconds = time.perf_counter() - started
    return {
        "items": items,
        "values": values,
        "precision": precision,
        "seconds": round(seconds, 1),
        "peak_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "estimate_gib": round(EASE.peak_memory_bytes(items) / 2**30, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, nargs="+", default=[10_000, 15_000, 20_000])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--values", nargs="+", default=["sqrt"], choices=["sqrt", "binary"])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(fit_once(args.child, args.threads, args.values[0])))
        return
    print(f"One EASE fit, {CUSTOMERS:,} customers, {INTERACTIONS:,} interactions")
    print(
        f"{'items':>8} {'values':>7} {'precision':>10} {'seconds':>8} {'peak GiB':>9} "
        f"{'estimate GiB':>13}"
    )
    for items in args.items:
        for values in args.values:
            child = subprocess.run(
                [
                    *(sys.executable, __file__, "--child", str(items)),
                    *("--threads", str(args.threads), "--values", values),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            result = json.loads(child.stdout.strip().splitlines()[-1])
            print(
                f"{result['items']:>8,} {result['values']:>7} {result['precision']:>10} "
                f"{result['seconds']:>8} {result['peak_gib']:>9} {result['estimate_gib']:>13}"
            )


if __name__ == "__main__":
    main()
