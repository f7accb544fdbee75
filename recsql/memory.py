"""A build's memory budget: how much it may use, DuckDB's share of it, and how much a process
tree uses.

``recsql build --memory-limit 8GiB`` bounds the whole build: the build process (dbt, DuckDB,
the Python models) and the engine's worker processes together. DuckDB's ``memory_limit``
(beyond which its joins, aggregates and sorts spill to its temporary directory beside the build
database) is :data:`DUCKDB_SHARE` of it while a Python model runs - the engine's Python models
build tenants in shards sized to fit in what the process tree leaves of the budget
(:mod:`recsql.engine.shards`) - and at most :data:`DUCKDB_SQL_SHARE` while a SQL model runs,
when Python holds little. Without a limit a build may use :data:`DEFAULT_SHARE` of the
machine's memory (or of its cgroup's limit, in a container).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path

#: The share of the machine's (or the container's) memory a build may use by default.
DEFAULT_SHARE = 0.6
#: The share of a build's budget that is DuckDB's ``memory_limit`` while a Python model runs.
DUCKDB_SHARE = 0.5
#: ... and at most while a SQL model runs: what the rest of the process tree (the build
#: process's Python, the engine's idle workers) leaves of the budget, between the two shares
#: (:func:`recsql.engine.shards.sql_memory_limit`). (With half of 8 GiB the 4,000-tenant
#: benchmark's `list_candidates` took 78 s spilling; with 70 %, 50 s.)
DUCKDB_SQL_SHARE = 0.7
#: Below this a build cannot run (dbt, DuckDB and the libraries alone take about 0.5 GiB).
MINIMUM = 1 << 30

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1 << 10,
    "kb": 1000,
    "kib": 1 << 10,
    "m": 1 << 20,
    "mb": 1000**2,
    "mib": 1 << 20,
    "g": 1 << 30,
    "gb": 1000**3,
    "gib": 1 << 30,
    "t": 1 << 40,
    "tb": 1000**4,
    "tib": 1 << 40,
}


def parse_size(text: str | int) -> int:
    """Bytes from a size such as ``8GiB``, ``8GB``, ``512MiB``, ``8g`` or a number of bytes.
    Raises ValueError with what is accepted."""
    size = text if isinstance(text, int) else size_in_bytes(text)
    if size < MINIMUM:
        raise ValueError(
            f"a memory limit of {format_size(size)} is too small: a build needs at least "
            f"{format_size(MINIMUM)}"
        )
    return size


def size_in_bytes(text: str) -> int:
    """Bytes from a size as text, such as ``8GiB``, ``8 GB``, ``512MiB`` or ``3.9 GiB`` (how
    DuckDB shows its memory_limit). Raises ValueError with what is accepted."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _UNITS:
        raise ValueError(
            f"{text!r} is not a memory size: give a number with a unit, e.g. 8GiB, 8GB, 512MiB"
        )
    return int(float(match.group(1)) * _UNITS[unit])


def format_size(size: int) -> str:
    """``size`` bytes in GiB or MiB, e.g. "8.0 GiB"."""
    return f"{size / 2**30:.1f} GiB" if size >= 2**30 else f"{size / 2**20:.0f} MiB"


def available() -> int:
    """The memory this process may use: the machine's, or its cgroup's limit if lower."""
    physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    limits = [physical]
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit():  # "max" (cgroup v2) or a huge number (v1) when there is none
            limits.append(int(text))
    return min(limits)


def default_limit() -> int:
    """A build's budget when none is given: :data:`DEFAULT_SHARE` of :func:`available`."""
    return max(MINIMUM, int(available() * DEFAULT_SHARE))


def duckdb_limit(budget: int) -> int:
    """DuckDB's ``memory_limit`` within a build's ``budget`` while a Python model runs."""
    return int(budget * DUCKDB_SHARE)


def duckdb_sql_limit(budget: int) -> int:
    """The most DuckDB's ``memory_limit`` is within a build's ``budget`` while a SQL model runs."""
    return int(budget * DUCKDB_SQL_SHARE)


def tree_rss(pid: int | None = None) -> int:
    """The summed resident memory, in bytes, of process ``pid`` (default: this one) and all its
    descendants, from ``/proc`` (0 where there is none). Pages two processes share are counted
    in each: an upper bound.

    The shards sample it ten times a second while they build: the tree is walked through each
    process's ``children`` (one small read per thread), not by reading the status of every
    process on the machine, which is the fallback where the kernel does not list children."""
    pid = os.getpid() if pid is None else pid
    try:
        processes = _descendants(pid)
    except OSError:  # no /proc/<pid>/task/<tid>/children (CONFIG_PROC_CHILDREN): scan /proc
        return _scanned_tree_rss(pid)
    total = 0
    for process in processes:
        try:
            resident_pages = int(Path(f"/proc/{process}/statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):  # gone meanwhile
            continue
        total += resident_pages * _PAGE_SIZE
    return total


_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _descendants(pid: int) -> list[int]:
    """``pid`` and every process below it, from the kernel's list of each thread's children;
    OSError where the kernel keeps no such list (or ``pid`` is gone)."""
    found, stack = [], [pid]
    while stack:
        process = stack.pop()
        found.append(process)
        try:
            tasks = os.listdir(f"/proc/{process}/task")
        except OSError:
            if process == pid:
                raise
            continue  # a descendant that exited meanwhile
        for task in tasks:
            try:
                children = Path(f"/proc/{process}/task/{task}/children").read_text()
            except FileNotFoundError:
                if process == pid and task == str(pid):
                    raise  # the kernel lists no children: the caller scans instead
                continue  # a thread that ended meanwhile
            except OSError:
                continue
            stack += (int(child) for child in children.split())
    return found


def _scanned_tree_rss(pid: int) -> int:
    """:func:`tree_rss` from the status of every process in ``/proc``."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            status = (entry / "status").read_text()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        process = int(entry.name)
        children.setdefault(int(fields["PPid"]), []).append(process)
        rss[process] = int(fields.get("VmRSS", "0 kB").split()[0]) * 1024
    total, stack = 0, [pid]
    while stack:
        process = stack.pop()
        total += rss.get(process, 0)
        stack += children.get(process, [])
    return total


def trim() -> None:
    """Hand back to the system the free memory the C library's allocator keeps for reuse
    (glibc's ``malloc_trim``; nothing where there is no glibc). What a shard's numpy and Arrow
    work freed stays resident otherwise - up to 1.4 GiB between shards of a 4,000-tenant
    build - and a shard after it would be sized as if that memory were taken."""
    malloc_trim = _malloc_trim()
    if malloc_trim is not None:
        malloc_trim(0)


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        function: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None
    return function
