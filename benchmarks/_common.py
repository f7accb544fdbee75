"""Helpers shared by the benchmark scripts: timed builds in a fresh process, dbt node timings,
the machine description and Markdown tables.

A build is timed in a child process (``python benchmarks/_common.py build ...``) so that every
build starts cold, like ``recsql build`` does (dbt imported, no database left open), and so
that its peak resident memory is its own. The child prints one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks"


@dataclass(frozen=True)
class TimedBuild:
    """What a build in a child process reported."""

    db_path: Path
    #: Wall time of ``recsql.build.build`` in a fresh process, dbt's import included.
    seconds: float
    #: dbt's own elapsed time (run_results.json), from the first node to the last.
    dbt_seconds: float
    #: Peak of the summed resident set sizes of the build's process tree (the child process
    #: and its worker processes), bytes: :class:`TreeMemory`.
    peak_rss: int
    tenants: int
    #: (source_table, rows_read, rows_accepted, rows_quarantined)
    counts: list[tuple[str, int, int, int]]
    #: The 1-minute load average before and after the build: the machine may be shared (on
    #: 2 cores, above 2 the build competed for the CPU with other work).
    load: tuple[float, float] | None = None
    #: CPU time (user + system) of the child process and its workers, seconds: less
    #: sensitive than the wall time to other work on a shared machine.
    cpu_seconds: float | None = None

    @property
    def work_dir(self) -> Path:
        return self.db_path.with_name(self.db_path.name + ".build")

    @property
    def build_db(self) -> Path:
        return self.work_dir / "build.duckdb"

    @property
    def run_results(self) -> Path:
        return self.work_dir / "target" / "run_results.json"


def timed_build(
    data_dir: Path,
    db_path: Path,
    *,
    as_of: str | None = None,
    retrain: str = "due",
    memory_limit: str | None = None,
) -> TimedBuild:
    """Build ``data_dir`` into ``db_path`` with :func:`recsql.build.build` in a child process
    (``memory_limit``: its ``memory_limit`` argument, e.g. "8GiB")."""
    command = [sys.executable, str(Path(__file__).resolve()), "build", str(data_dir), str(db_path)]
    if as_of:
        command += ["--as-of", as_of]
    command += ["--retrain", retrain]
    if memory_limit:
        command += ["--memory-limit", memory_limit]
    load_before = os.getloadavg()[0]
    with child_cpu() as cpu:
        child = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT
        )
        with TreeMemory(child.pid) as memory:
            stdout, stderr = child.communicate()
    if child.returncode != 0:
        raise RuntimeError(
            f"build of {data_dir} failed (exit {child.returncode}):\n{stdout}\n{stderr}"
        )
    report = json.loads(stdout.strip().splitlines()[-1])
    run_results = Path(str(db_path) + ".build") / "target" / "run_results.json"
    results = json.loads(run_results.read_text())
    return TimedBuild(
        db_path=Path(report["db_path"]),
        seconds=report["seconds"],
        dbt_seconds=float(results["elapsed_time"]),
        peak_rss=max(memory.peak, report["peak_rss"]),
        tenants=report["tenants"],
        counts=[tuple(c) for c in report["counts"]],
        load=(load_before, os.getloadavg()[0]),
        cpu_seconds=cpu.seconds,
    )


class TreeMemory:
    """The peak of the summed resident memory of a process and all its descendants (a build
    and its worker processes), sampled every ``interval`` seconds from ``/proc`` while the
    block runs. Sampling can miss a peak shorter than the interval; on a system without
    ``/proc`` the peak stays 0 (the caller falls back on the child's own ``ru_maxrss``)."""

    def __init__(self, pid: int, interval: float = 0.2):
        self.pid, self.interval, self.peak = pid, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="tree-memory", daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        from recsql.memory import tree_rss

        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss(self.pid))
            self._stop.wait(self.interval)


@dataclass
class CpuTime:
    seconds: float = 0.0


@contextlib.contextmanager
def child_cpu() -> Iterator[CpuTime]:
    """CPU time (user + system) of the child processes that end inside the block, and of
    the processes they waited for (one child at a time: run them one after the other)."""

    def used() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    cpu, before = CpuTime(), used()
    try:
        yield cpu
    finally:
        cpu.seconds = used() - before


def _child_build(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("db_path", type=Path)
    parser.add_argument("--as-of")
    parser.add_argument("--retrain", default="due")
    parser.add_argument("--memory-limit")
    args = parser.parse_args(argv)
    from recsql.build import build

    started = time.perf_counter()
    # the scratch database is kept: the benchmarks measure it and read from it
    result = build(
        args.data_dir,
        args.db_path,
        as_of=args.as_of,
        retrain=args.retrain,
        keep_build_db=True,
        **({"memory_limit": args.memory_limit} if args.memory_limit else {}),
    )
    seconds = time.perf_counter() - started
    # ru_maxrss is in kilobytes on Linux (bytes on macOS).
    scale = 1 if sys.platform == "darwin" else 1024
    report = {
        "db_path": str(result.db_path),
        "seconds": seconds,
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale,
        "tenants": result.tenants,
        "counts": [
            (c.source_table, c.rows_read, c.rows_accepted, c.rows_quarantined)
            for c in result.counts
        ],
    }
    print(json.dumps(report))


def slowest_nodes(run_results: Path, n: int) -> list[tuple[str, str, str, float]]:
    """The ``n`` slowest dbt nodes of a run: (resource type, name, status, seconds)."""
    results = json.loads(run_results.read_text())["results"]
    nodes = [
        (
            r["unique_id"].split(".")[0],
            r["unique_id"].split(".")[-1]
            if not r["unique_id"].startswith("test.")
            else r["unique_id"].split(".")[2],
            r["status"],
            float(r["execution_time"]),
        )
        for r in results
    ]
    nodes.sort(key=lambda node: (-node[3], node[1]))
    return nodes[:n]


def node_count(run_results: Path) -> dict[str, int]:
    """Nodes per resource type (model, test, seed) in a run."""
    counts: dict[str, int] = {}
    for r in json.loads(run_results.read_text())["results"]:
        kind = r["unique_id"].split(".")[0]
        counts[kind] = counts.get(kind, 0) + 1
    return dict(sorted(counts.items()))


def dbt_threads(run_results: Path) -> int:
    """How many dbt worker threads ran nodes (their times overlap when more than one)."""
    return len({r["thread_id"] for r in json.loads(run_results.read_text())["results"]})


def machine() -> str:
    """One line: cores, CPU, memory, OS and the versions that matter for the numbers."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory = f", {pages / 2**30:.0f} GiB RAM"
    except (ValueError, OSError):
        pass
    versions = ", ".join(
        f"{name} {version(name)}"
        for name in ("duckdb", "implicit", "dbt-core", "dbt-duckdb", "numpy", "scipy")
    )
    return (
        f"{os.cpu_count()} cores ({cpu}){memory}, {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}, {versions}"
    )


def version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def command_line() -> str:
    """The command that is running, relative to the project root where possible."""
    script = Path(sys.argv[0]).resolve()
    try:
        script_text = str(script.relative_to(ROOT))
    except ValueError:
        script_text = str(script)
    return shlex.join([".venv/bin/python", script_text, *sys.argv[1:]])


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def table(headers: list[str], rows: list[list[Any]], align: str | None = None) -> str:
    """A Markdown table; ``align`` is one character per column, ``l`` or ``r`` (default: text
    columns left, numbers right, decided from the first row)."""
    if align is None:
        first = rows[0] if rows else [""] * len(headers)
        align = "".join("r" if isinstance(v, int | float) else "l" for v in first)
    cells = [[_cell(v) for v in row] for row in rows]
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|",
        *("| " + " | ".join(row) + " |" for row in cells),
    ]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def load_text(load: tuple[float, float] | None) -> str:
    """The 1-minute load average before and after a measurement, as "1.2 → 2.3"."""
    return "—" if load is None else f"{load[0]:.1f} → {load[1]:.1f}"


def megabytes(size: int) -> str:
    return f"{size / 2**20:,.0f} MiB"


def write_report(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(text)
    shown = path.resolve()
    print(f"(written to {shown.relative_to(ROOT) if shown.is_relative_to(ROOT) else shown})")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "build":
        _child_build(sys.argv[2:])
    else:
        sys.exit(f"usage: {sys.argv[0]} build DATA_DIR DB_PATH [--as-of TS]")
