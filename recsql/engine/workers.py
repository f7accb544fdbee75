"""Where per-tenant work runs: a large tenant alone with every core, small tenants side by side.

A tenant's fit is independent of every other tenant's. A large tenant is fitted alone with
every core. Small tenants are fitted side by side, each single-threaded: many of them
(thousands of small shops) on a pool of worker processes, one per core — their fits release
the GIL, but the numpy and arrow work around a fit on a small matrix does not, and threads
would wait for each other — a few on threads.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import multiprocessing
import os
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any, TypeVar

import threadpoolctl

#: A task of this size (non-zeros of its matrix) or more runs alone, with every core.
LARGE_TASK_SIZE = 100_000
#: From this many small tasks on, they run on worker processes (starting the pool costs half
#: a second, once per Python process; :func:`start` starts it ahead); fewer run on threads.
PROCESS_POOL_MIN_TASKS = 64
#: What a worker imports when it starts: the modules whose functions it runs, with numpy,
#: scipy and implicit (half a second of a worker's start, instead of its first task's) - and
#: pandas where it is installed: pyarrow imports it the first time it converts a Python value
#: (a task's output columns, e.g. its tenant id), 0.15-0.3 s of each worker's first task
#: otherwise, which a night's first engine model waited for.
WORK_MODULES = (
    "recsql.engine.candidates",
    "recsql.engine.ranker",
    "recsql.engine.repurchase",
    "recsql.engine.new_items",
    "pandas",
)

Result = TypeVar("Result")
#: ``work(*arguments, num_threads)``: a module-level function (it may run in a worker process).
Work = Callable[..., Result]


def run(
    work: Work[Result],
    tasks: Sequence[tuple[int, tuple[Any, ...]]],
    workers: int | None = None,
) -> list[Result]:
    """``work(*arguments, num_threads)`` for every task ``(size, arguments)``, largest first:
    tasks of ``LARGE_TASK_SIZE`` or more one after the other with every core
    (``num_threads`` 0), the others side by side with one thread each."""
    ordered = sorted(tasks, key=lambda task: -task[0])
    large = [arguments for size, arguments in ordered if size >= LARGE_TASK_SIZE]
    small = [(work, arguments) for size, arguments in ordered if size < LARGE_TASK_SIZE]
    results = [work(*arguments, 0) for arguments in large]
    workers = workers or os.cpu_count() or 1
    if workers > 1 and len(small) >= PROCESS_POOL_MIN_TASKS:
        pool = _process_pool(workers)
        results += list(pool.map(_call, small, chunksize=max(1, len(small) // (8 * workers))))
    else:
        with ThreadPoolExecutor(max_workers=workers) as threads:
            results += list(threads.map(_call, small))
    return results


def start(workers: int | None = None) -> None:
    """Start the worker processes now, without waiting for them: they start and import
    :data:`WORK_MODULES` while the caller goes on (``recsql build`` calls this while dbt parses
    the project - one core's work - when the build has enough tenants to use them)."""
    workers = workers or os.cpu_count() or 1
    if workers > 1:
        _process_pool(workers)


def _call(task: tuple[Work[Result], tuple[Any, ...]]) -> Result:
    work, arguments = task
    return work(*arguments, 1)


_pools: dict[int, Executor] = {}


def _process_pool(workers: int) -> Executor:
    """The worker processes of this Python process (started once, stopped at exit): started,
    not waited for - a task submitted waits for them.

    Started with "spawn": the build runs inside dbt, whose threads a fork would copy mid-step.
    Each worker limits BLAS and OpenMP to one thread for its lifetime.
    """
    if workers not in _pools:
        spawn = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=spawn,
            initializer=_worker_started,
            initargs=(os.getpid(), spawn.Lock()),
        )
        with _main_script_hidden():
            for n in range(workers):
                pool.submit(int, n)  # each submit starts a worker process, now
        atexit.register(pool.shutdown)
        _pools[workers] = pool
    return _pools[workers]


@contextlib.contextmanager
def _main_script_hidden() -> Iterator[None]:
    """A spawned worker runs the parent's ``__main__`` script again, as ``__mp_main__``:
    harmless behind ``if __name__ == "__main__":``, but a script without that guard (one that
    calls recsql.build.build at its top level) would build again in every worker. Workers need
    nothing from it, so they start while a bare module stands in for it."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


_limits: list[threadpoolctl.threadpool_limits] = []


#: The thread pools of BLAS and OpenMP libraries read these when they load.
_ONE_THREAD = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")


def _worker_started(parent: int, importing: Any) -> None:
    """In each worker: BLAS and OpenMP single-threaded, :data:`WORK_MODULES` imported, and an
    exit when the parent dies (a killed build would otherwise leave its idle workers waiting
    for work forever).

    A worker starts without numpy, scipy or implicit. A thread limit applies only to libraries
    already loaded, so the environment tells the ones still to come before they are imported,
    and the limit holds for any loaded already. (Two workers each running a small fit on two
    BLAS threads made EASE ten times slower.)
    """
    os.environ.update(dict.fromkeys(_ONE_THREAD, "1"))
    _limits.append(threadpoolctl.threadpool_limits(limits=1))
    # one worker at a time (``importing``, a lock): the parent goes on working on one core
    # (not forever: a worker that died holding the lock would never release it)
    turn = importing.acquire(timeout=30)
    try:
        for module in WORK_MODULES:
            # ahead of the first task, which imports what it needs anyway (and says what failed)
            with contextlib.suppress(ImportError):
                importlib.import_module(module)
    finally:
        if turn:
            importing.release()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, name="recsql-parent-watch", daemon=True).start()
