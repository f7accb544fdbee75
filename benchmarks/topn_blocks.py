"""Time of recsql.engine.algorithms.topn on wide score blocks for several widths of the column
blocks its selection takes maxima of (topn.MAX_BLOCK): what the constant is chosen from.

    .venv/bin/python benchmarks/topn_blocks.py [--rows 1000] [--items 15000] [--k 50]

Scores: ``rows`` x ``items`` float32, a share of them non-zero (uniform in 0..1), the others 0
- the shape of a sparse model's scores (EASE from stored weights). Each width is timed on the
same scores (best of 3) and must select the same items as the first.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import recsql.engine.algorithms.topn  # noqa: F401 (the module, not the function of its name)

topn_module = sys.modules["recsql.engine.algorithms.topn"]

WIDTHS = (64, 32, 16, 8)
DENSITIES = (0.05, 0.2, 0.4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--items", type=int, default=15000)
    parser.add_argument("--k", type=int, default=50)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    chosen = topn_module.MAX_BLOCK
    print(f"topn of {args.rows:,} x {args.items:,} scores, k = {args.k}: seconds (best of 3)")
    print("| non-zero | " + " | ".join(f"block {w}" for w in WIDTHS) + " |")
    print("|---:|" + "---:|" * len(WIDTHS))
    try:
        for density in DENSITIES:
            shape = (args.rows, args.items)
            scores = np.where(rng.random(shape) < density, rng.random(shape), 0)
            scores = scores.astype(np.float32)
            first, cells = None, []
            for width in WIDTHS:
                topn_module.MAX_BLOCK = width
                best = float("inf")
                for _ in range(3):
                    started = time.perf_counter()
                    items, _ = topn_module.topn(scores, args.k)
                    best = min(best, time.perf_counter() - started)
                first = items if first is None else first
                assert (items == first).all(), "a block width changed the selection"
                cells.append(f"{best:.3f}")
            print(f"| {density:.0%} | " + " | ".join(cells) + " |")
    finally:
        topn_module.MAX_BLOCK = chosen


if __name__ == "__main__":
    main()
