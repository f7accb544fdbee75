"""The engine's journal: how long each tenant's model fits and scorings took, and which failed.

A tenant whose fit raises must not stop the others: the engine runs every tenant's task
guarded (:func:`recsql.engine.candidates` catches the exception and keeps the message), and
notes a :class:`Run` per task (:func:`note`). The dbt Python models of the engine record the
runs of what they call (:func:`recording`) in the build database's table
``recsql_engine_runs`` (created by the recsql dbt plugin), which the model ``engine_runs``
hands to the rest of the build: a tenant with a failed run fails the build
(``tenant_late_failures``: it keeps its published lists), and the seconds per tenant are its
``fit_seconds`` in ``build_history``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

#: The build database's table of runs (the dbt plugin creates it; engine_runs reads it).
RUNS_TABLE = "main.recsql_engine_runs"
RUNS_DDL = f"""
    create table if not exists {RUNS_TABLE} (
        model varchar not null,
        tenant_id varchar not null,
        algorithm varchar,
        seconds double not null,
        error varchar
    )
"""


@dataclass(frozen=True)
class Run:
    """One tenant's task: its algorithm, how long it took, and why it failed (or None)."""

    tenant_id: str
    algorithm: str | None
    seconds: float
    error: str | None = None


_runs: ContextVar[list[Run] | None] = ContextVar("recsql_engine_runs", default=None)


def note(runs: Iterable[Run]) -> None:
    """Add ``runs`` to what the current :func:`recording` records (nothing outside one)."""
    collected = _runs.get()
    if collected is not None:
        collected.extend(runs)


@contextlib.contextmanager
def recording(session: Any, model: str) -> Iterator[list[Run]]:
    """Record in ``session``'s build database the runs the engine notes inside the block, as
    those of the dbt model ``model``."""
    runs: list[Run] = []
    token = _runs.set(runs)
    try:
        yield runs
    finally:
        _runs.reset(token)
    if runs:
        table = pa.table(
            {
                "model": [model] * len(runs),
                "tenant_id": [run.tenant_id for run in runs],
                "algorithm": [run.algorithm for run in runs],
                "seconds": [run.seconds for run in runs],
                "error": [run.error for run in runs],
            }
        )
        session.from_arrow(table).insert_into(RUNS_TABLE)


def describe(error: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    message = str(error).strip().splitlines()
    return f"{type(error).__name__}: {message[0]}" if message else type(error).__name__
