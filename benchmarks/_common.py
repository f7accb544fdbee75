"""Helpers shared by the benchmark scripts: timed builds and commands in a fresh process, dbt
node timings, the machine description, Markdown tables, and the demo's temporal holdout (its
inputs, its truth and the list metrics scored on it).

A build is timed in a child process (``python benchmarks/_common.py build ...``) so that every
build starts cold, like ``recsql build`` does (dbt imported, no database left open), and so
that its peak resident memory is its own. The child prints one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

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
    #: The build's progress lines about its shards (``recsql.engine.shards``: one per shard of
    #: an engine model built in more than one), in order; empty when every model was one shard.
    shard_lines: tuple[str, ...] = ()

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
    keep_build_db: bool = True,
) -> TimedBuild:
    """Build ``data_dir`` into ``db_path`` with :func:`recsql.build.build` in a child process
    (``memory_limit``: its ``memory_limit`` argument, e.g. "8GiB"). ``keep_build_db``: keep
    the scratch database for the caller to read from (its ``target`` directory, with the run's
    results, is kept either way); without it, the build deletes it as a production build
    does, in its own time, and the next build of ``db_path`` has none to delete in its."""
    command = [sys.executable, str(Path(__file__).resolve()), "build", str(data_dir), str(db_path)]
    if as_of:
        command += ["--as-of", as_of]
    command += ["--retrain", retrain]
    if memory_limit:
        command += ["--memory-limit", memory_limit]
    if not keep_build_db:
        command += ["--discard-build-db"]
    done = timed_command(command, f"build of {data_dir}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    run_results = Path(str(db_path) + ".build") / "target" / "run_results.json"
    results = json.loads(run_results.read_text())
    return TimedBuild(
        db_path=Path(report["db_path"]),
        seconds=report["seconds"],
        dbt_seconds=float(results["elapsed_time"]),
        peak_rss=max(done.peak_rss, report["peak_rss"]),
        tenants=report["tenants"],
        counts=[tuple(c) for c in report["counts"]],
        load=done.load,
        cpu_seconds=done.cpu_seconds,
        shard_lines=tuple(report.get("shard_lines", ())),
    )


@dataclass(frozen=True)
class TimedCommand:
    """A command that ran in a child process, timed by this one."""

    stdout: str
    stderr: str
    #: Wall time from starting the child to its exit, as the user of the command waits it.
    seconds: float
    #: CPU time (user + system) of the child and of the processes it waited for.
    cpu_seconds: float
    #: The 1-minute load average before and after.
    load: tuple[float, float]
    #: Peak of the summed resident memory of the child and its descendants, bytes
    #: (:class:`TreeMemory`).
    peak_rss: int = 0


def timed_command(
    command: list[str], what: str, *, env: dict[str, str] | None = None
) -> TimedCommand:
    """Run ``command`` in the project root and time it; raise if it fails, naming ``what``."""
    load_before = os.getloadavg()[0]
    with child_cpu() as cpu:
        started = time.perf_counter()
        child = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env
        )
        with TreeMemory(child.pid) as memory:
            stdout, stderr = child.communicate()
        seconds = time.perf_counter() - started
    if child.returncode != 0:
        # The end of the output: a JVM's stack trace can run to thousands of lines.
        tail = "\n".join((stdout + stderr).splitlines()[-60:])
        raise RuntimeError(f"{what} failed (exit {child.returncode}); its output ends:\n{tail}")
    return TimedCommand(
        stdout, stderr, seconds, cpu.seconds, (load_before, os.getloadavg()[0]), memory.peak
    )


def settle(max_load: float, max_wait: float) -> float:
    """Wait (at most ``max_wait`` seconds) until the 1-minute load average is at most
    ``max_load``: the end of our own last run, or other work, would otherwise be measured too.
    Returns the load average when measuring starts."""
    deadline = time.monotonic() + max_wait
    while os.getloadavg()[0] > max_load and time.monotonic() < deadline:
        print(f"  load average {os.getloadavg()[0]:.1f}; waiting ...", flush=True)
        time.sleep(15)
    return os.getloadavg()[0]


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
    parser.add_argument("--discard-build-db", action="store_true")
    args = parser.parse_args(argv)
    from recsql.build import build

    started = time.perf_counter()
    # the progress lines about the engine's shards, for the report (the others are dbt's nodes)
    shard_lines: list[str] = []

    def progress(line: str) -> None:
        if ": shard " in line:
            shard_lines.append(line.strip())

    # the scratch database is kept unless told otherwise: benchmarks measure it and read from it
    result = build(
        args.data_dir,
        args.db_path,
        as_of=args.as_of,
        retrain=args.retrain,
        progress=progress,
        keep_build_db=not args.discard_build_db,
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
        "shard_lines": shard_lines,
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


def node_paths(target: Path) -> dict[str, str]:
    """The file each node of a dbt run was defined in, by unique id:
    ``models/engine/als_factors.py``, ``tests/dbt/compliance/....sql``. From ``manifest.json``
    in ``target`` where the build wrote it (``--keep-build-db``), else from dbt's parse of the
    project that ``recsql build`` leaves there (``partial_parse.msgpack``)."""
    written = target / "manifest.json"
    if written.exists():
        manifest = json.loads(written.read_text())
        return {
            unique_id: node["original_file_path"]
            for kind in ("nodes", "unit_tests")
            for unique_id, node in manifest[kind].items()
        }
    from dbt.contracts.graph.manifest import Manifest

    parsed = Manifest.from_msgpack((target / "partial_parse.msgpack").read_bytes())
    return {
        unique_id: node.original_file_path
        for nodes in (parsed.nodes, parsed.unit_tests)
        for unique_id, node in nodes.items()
    }


def stage_seconds(target: Path) -> list[tuple[str, str, int, float]]:
    """Node time of a dbt run by folder and resource type, slowest first: (folder, type,
    nodes, seconds), e.g. ("models/engine", "model", 20, 12.3)."""
    paths = node_paths(target)
    stages: dict[tuple[str, str], tuple[int, float]] = {}
    for r in json.loads((target / "run_results.json").read_text())["results"]:
        key = (str(Path(paths.get(r["unique_id"], "?")).parent), r["unique_id"].split(".")[0])
        count, seconds = stages.get(key, (0, 0.0))
        stages[key] = (count + 1, seconds + float(r["execution_time"]))
    rows = [(folder, kind, n, secs) for (folder, kind), (n, secs) in stages.items()]
    return sorted(rows, key=lambda row: (-row[3], row[0], row[1]))


def dbt_threads(run_results: Path) -> int:
    """How many dbt worker threads ran nodes (their times overlap when more than one); the
    hooks that run on dbt's main thread are not counted."""
    results = json.loads(run_results.read_text())["results"]
    return len({r["thread_id"] for r in results if r["thread_id"] != "main"})


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


@contextlib.contextmanager
def work_directory(keep: Path | None, prefix: str) -> Iterator[Path]:
    """Where a benchmark writes its inputs and builds: ``keep`` (``--work-dir``; created, and
    it must not exist), or a temporary directory removed at the end."""
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=False)
        yield keep.resolve()
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as temporary:
        yield Path(temporary)


def write_report(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(text)
    shown = path.resolve()
    print(f"(written to {shown.relative_to(ROOT) if shown.is_relative_to(ROOT) else shown})")


# --------------------------------------------------------------------------------------------
# The demo's temporal holdout, shared by every benchmark that scores lists on it
# (accuracy.py, end_to_end.py): train on the interactions before a cutoff (CUTOFF, the engine
# issue's, unless told otherwise), score the distinct items each customer purchased on or
# after it, to the end of the data.

DEMO = ROOT / "data" / "demo"
CUTOFF = "2011-11-09 00:00:00"
K = 10
TENANT = "default"
METRICS = ("ndcg", "precision", "recall", "map", "hit_rate")


def cutoff_timestamp(text: str) -> str:
    """A cutoff given as a date or a timestamp ("2011-09-09"), in CUTOFF's form
    ("2011-09-09 00:00:00"); ValueError if it is neither."""
    return datetime.fromisoformat(text).strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class Truth:
    #: Items each evaluated customer purchased before the cutoff.
    before: dict[str, frozenset[str]]
    #: Distinct items each evaluated customer purchased on or after the cutoff.
    after: dict[str, frozenset[str]]
    #: The cutoff, in CUTOFF's form.
    cutoff: str
    #: The last purchase of the demo data: the truth window runs from the cutoff to it.
    last_purchase: datetime
    #: Items launched in the truth window: nobody (customer or guest) purchased them before
    #: the cutoff (new-item cold start, issue 16).
    new_items: frozenset[str] = frozenset()

    @property
    def window_days(self) -> float:
        """The length of the truth window, days."""
        start = datetime.fromisoformat(self.cutoff)
        return (self.last_purchase - start).total_seconds() / 86400


def read_truth(cutoff: str = CUTOFF) -> Truth:
    """Purchases of the customers with >= 1 purchase before and >= 1 on/after the cutoff."""
    cutoff = cutoff_timestamp(cutoff)
    con = duckdb.connect()
    purchases = (
        f"from read_parquet('{DEMO / 'interactions.parquet'}') "
        "where event_type = 'purchase' and customer_id is not null"
    )
    rows = con.execute(
        f"""
        select customer_id, item_id, bool_or(occurred_at < timestamp '{cutoff}') as before,
            bool_or(occurred_at >= timestamp '{cutoff}') as after
        {purchases}
        group by customer_id, item_id
        order by customer_id, item_id
        """
    ).fetchall()
    [(last_purchase,)] = con.execute(f"select max(occurred_at) {purchases}").fetchall()
    new_items = con.execute(
        f"select item_id from read_parquet('{DEMO / 'interactions.parquet'}') "
        "where event_type = 'purchase' group by item_id "
        f"having min(occurred_at) >= timestamp '{cutoff}'"
    ).fetchall()
    con.close()
    return truth_from_rows(rows, cutoff, last_purchase, frozenset(item for (item,) in new_items))


def truth_from_rows(
    rows: Iterable[tuple[str, str, bool, bool]],
    cutoff: str,
    last_purchase: datetime,
    new_items: frozenset[str] = frozenset(),
) -> Truth:
    """The truth of (customer, item, bought before the cutoff, bought on or after it) rows:
    the customers who bought on both sides, what they bought on each."""
    before: dict[str, set[str]] = {}
    after: dict[str, set[str]] = {}
    for customer, item, was_before, was_after in rows:
        if was_before:
            before.setdefault(customer, set()).add(item)
        if was_after:
            after.setdefault(customer, set()).add(item)
    evaluated = sorted(before.keys() & after.keys())
    return Truth(
        before={c: frozenset(before[c]) for c in evaluated},
        after={c: frozenset(after[c]) for c in evaluated},
        cutoff=cutoff,
        last_purchase=last_purchase,
        new_items=new_items,
    )


#: A purchase history as the references read it: (customer, item, baskets holding it, latest
#: purchase), one row per customer and item bought before a cutoff.
History = list[tuple[str, str, int, datetime]]


def demo_history(cutoff: str = CUTOFF) -> History:
    """The demo's :data:`History` before ``cutoff``: its purchases with a customer, a day's
    purchases of an item counted as one basket."""
    cutoff = cutoff_timestamp(cutoff)
    con = duckdb.connect()
    try:
        return con.execute(
            f"""
            select customer_id, item_id, count(distinct cast(occurred_at as date)),
                max(occurred_at)
            from read_parquet('{DEMO / "interactions.parquet"}')
            where event_type = 'purchase' and customer_id is not null
                and occurred_at < timestamp '{cutoff}'
            group by all order by all
            """
        ).fetchall()
    finally:
        con.close()


def top_frequency(rows: History) -> dict[str, list[str]]:
    """Personal top-frequency: each customer's items by the baskets that held them, then the
    latest purchase (issue 16's buy-again reference)."""
    by_customer: dict[str, list[tuple[int, datetime, str]]] = {}
    for customer, item, baskets, latest in rows:
        by_customer.setdefault(customer, []).append((baskets, latest, item))
    return {
        customer: [item for _, _, item in sorted(items, key=lambda r: (-r[0], -r[1].timestamp()))][
            :K
        ]
        for customer, items in by_customer.items()
    }


def most_bought(rows: History) -> list[str]:
    """Items by the customers that bought them, most first (ties by id)."""
    buyers: dict[str, int] = {}
    for _, item, _, _ in rows:
        buyers[item] = buyers.get(item, 0) + 1
    return sorted(buyers, key=lambda item: (-buyers[item], item))


def raw_ease(rows: History, truth: Truth, lam: float, max_items: int) -> dict[str, list[str]]:
    """Raw EASE (Steck 2019, L2 regularisation ``lam``) on the binary matrix of the
    ``max_items`` items the most customers bought, fitted dense: the evaluated customers' top K
    items they had not bought (issue 16's discover reference)."""
    items = most_bought(rows)[:max_items]
    column = {item: j for j, item in enumerate(items)}
    customers = sorted({customer for customer, _, _, _ in rows})
    row = {customer: i for i, customer in enumerate(customers)}
    x = np.zeros((len(customers), len(items)), dtype=np.float64)
    for customer, item, _, _ in rows:
        if item in column:
            x[row[customer], column[item]] = 1.0
    gram = x.T @ x
    gram[np.diag_indices_from(gram)] += lam
    weights = np.linalg.inv(gram)
    del gram
    weights /= -np.diag(weights).copy()
    weights[np.diag_indices_from(weights)] = 0.0
    evaluated = [c for c in truth.before if c in row]
    scores = x[[row[c] for c in evaluated]] @ weights
    scores[x[[row[c] for c in evaluated]] > 0] = -np.inf  # nothing bought before
    best = np.argsort(-scores, axis=1, kind="stable")[:, :K]
    return {c: [items[j] for j in best[i]] for i, c in enumerate(evaluated)}


def list_metrics(ranked: list[str], relevant: frozenset[str], k: int = K) -> dict[str, float]:
    """Metrics @k of one list (best first) against a non-empty set of relevant items."""
    hits = dcg = average_precision = 0.0
    hit_count = 0
    for position, item in enumerate(ranked[:k], start=1):
        if item in relevant:
            hit_count += 1
            dcg += 1.0 / math.log2(position + 1)
            average_precision += hit_count / position
    hits = float(hit_count)
    ideal = sum(1.0 / math.log2(p + 1) for p in range(1, min(len(relevant), k) + 1))
    return {
        "ndcg": dcg / ideal,
        "precision": hits / k,
        "recall": hits / len(relevant),
        "map": average_precision / min(len(relevant), k),
        "hit_rate": 1.0 if hit_count else 0.0,
    }


@dataclass(frozen=True)
class Score:
    """Mean metrics over the evaluated customers of one shelf."""

    customers: int
    #: Evaluated customers who had a served list.
    with_list: int
    values: dict[str, float]


def score(lists: dict[str, list[str]], truth: Truth, *, discover: bool) -> Score:
    totals = dict.fromkeys(METRICS, 0.0)
    customers = with_list = 0
    for customer in sorted(truth.after):
        relevant = truth.after[customer]
        ranked = lists.get(customer, [])
        if discover:
            relevant = relevant - truth.before[customer]
            if not relevant:
                continue
            ranked = [item for item in ranked if item not in truth.before[customer]]
        customers += 1
        with_list += bool(ranked)
        for name, value in list_metrics(ranked, relevant).items():
            totals[name] += value
    return Score(customers, with_list, {name: totals[name] / customers for name in METRICS})


def score_new_items(lists: dict[str, list[str]], truth: Truth) -> Score:
    """New-item cold start: the lists as served against the items launched in the truth window
    (``truth.new_items``) that each evaluated customer bought, over the customers who bought
    one."""
    totals = dict.fromkeys(METRICS, 0.0)
    customers = with_list = 0
    for customer in sorted(truth.after):
        relevant = truth.after[customer] & truth.new_items
        if not relevant:
            continue
        ranked = lists.get(customer, [])
        customers += 1
        with_list += bool(ranked)
        for name, value in list_metrics(ranked, relevant).items():
            totals[name] += value
    return Score(customers, with_list, {name: totals[name] / max(customers, 1) for name in METRICS})


def served_lists(db_path: Path, view: str) -> dict[str, list[str]]:
    """Each customer's served list (first K by rank) from a published view."""
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        rows = con.execute(
            f"select customer_id, item_id from {view} "  # view is one of three constants
            "where tenant_id = ? and rank <= ? order by customer_id, rank, item_id",
            [TENANT, K],
        ).fetchall()
    finally:
        con.close()
    return lists_by_customer(rows)


def lists_by_customer(rows: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """(customer_id, item_id) rows, each customer's best first, as one list per customer."""
    lists: dict[str, list[str]] = {}
    for customer, item in rows:
        lists.setdefault(customer, []).append(item)
    return lists


def write_inputs(directory: Path, algorithm: str, cutoff: str = CUTOFF) -> Path:
    """The demo data with its interactions before the cutoff (items and customers unchanged),
    plus ``tenants.csv`` forcing ``algorithm``."""
    cutoff = cutoff_timestamp(cutoff)
    directory.mkdir(parents=True)
    con = duckdb.connect()
    con.execute(
        f"copy (select * from read_parquet('{DEMO / 'interactions.parquet'}') "
        f"where occurred_at < timestamp '{cutoff}') "
        f"to '{directory / 'interactions.parquet'}' (format parquet)"
    )
    con.close()
    for name in ("items.parquet", "customers.parquet"):
        shutil.copyfile(DEMO / name, directory / name)
    (directory / "tenants.csv").write_text(f"tenant_id,algorithm\n{TENANT},{algorithm}\n")
    return directory


@dataclass(frozen=True)
class TruncatedBuild:
    """The auto build of the demo truncated at a cutoff (:func:`truncated_builds`)."""

    #: The cutoff as given, and as the build's clock (``cutoff_timestamp``).
    cutoff: str
    timestamp: str
    inputs: Path
    db_path: Path

    @property
    def build_db(self) -> Path:
        """The build's own database, kept."""
        return Path(f"{self.db_path}.build") / "build.duckdb"


def truncated_builds(work: Path, cutoffs: Iterable[str]) -> Iterator[TruncatedBuild]:
    """The demo truncated at each cutoff (:func:`write_inputs`, the champion chosen as usual)
    built into ``work`` in this process, its build database kept, as each is needed."""
    from recsql.build import build

    for cutoff in cutoffs:
        print(f"building the demo truncated at {cutoff} ...", flush=True)
        timestamp = cutoff_timestamp(cutoff)
        inputs = write_inputs(work / f"inputs-{cutoff}", "auto", timestamp)
        db_path = work / f"auto-{cutoff}.duckdb"
        build(inputs, db_path, as_of=timestamp, keep_build_db=True)
        yield TruncatedBuild(cutoff, timestamp, inputs, db_path)


def published(db_path: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "build":
        _child_build(sys.argv[2:])
    else:
        sys.exit(f"usage: {sys.argv[0]} build DATA_DIR DB_PATH [--as-of TS]")
