"""Speed of the synthetic data generator at benchmark scale.

Usage: ``.venv/bin/python benchmarks/generator_speed.py [--tenants 1000] [--interactions 5000]``

Prints the wall time and interaction rows per second of :func:`recsql.datasets.generator.generate`
(parquet, 1% bad rows, written to a temporary directory).
"""

from __future__ import annotations

import argparse
import tempfile
import time

from recsql.datasets.generator import generate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--interactions", type=int, default=5000)
    parser.add_argument("--bad-share", type=float, default=0.01)
    parser.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        report = generate(
            out,
            tenants=args.tenants,
            customers=args.customers,
            items=args.items,
            interactions=args.interactions,
            bad_share=args.bad_share,
            fmt=args.format,
        )
        seconds = time.perf_counter() - started
    rows = report.rows["interactions"]
    total = sum(report.rows.values())
    print(
        f"{args.tenants} tenants x {args.interactions} interactions ({args.format}, "
        f"bad share {args.bad_share}): {rows:,} interaction rows, {total:,} rows in all, "
        f"{seconds:.1f} s, {rows / seconds:,.0f} interaction rows/s"
    )


if __name__ == "__main__":
    main()
