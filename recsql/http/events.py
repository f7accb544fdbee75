"""The event log of the HTTP API: real-time interactions, kept for the next build and used at
once as context.

``POST /v1/tenants/{tenant}/events`` appends each event as a row of the ``interactions`` table
of the input contract (docs/contract.md) to a CSV file in the directory ``<db>.events/`` beside
the served database, one file per UTC day (``events-2026-12-03.csv``; columns ``tenant_id,
customer_id, item_id, occurred_at, event_type, quantity``). The next ``recsql build --db <db>``
reads every file of that directory as more rows of its interactions input
(:func:`recsql.build.inputs.read_table`): validated and quarantined like any other row, and
counted in ``input_row_counts`` with their file named in ``quarantined_rows.source_file``.

Every server process of ``recsql serve --workers N`` appends to the same file, each event
batch in one ``write`` to a file opened with ``O_APPEND`` (so lines never interleave), and reads
the lines the others appended when it next needs a customer's events (:meth:`EventLog.recent`):
what a customer did a moment ago, through any worker, is context for their next request.
"""

from __future__ import annotations

import csv
import io
import os
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from recsql.contract import EVENT_LOG_COLUMNS, events_directory

#: The columns of every log file: those of the contract's interactions table that events carry.
COLUMNS = EVENT_LOG_COLUMNS
#: Events of a customer kept in memory for context (the most recent).
KEPT_PER_CUSTOMER = 20
#: Event types that say a customer is interested in an item now (a return says the opposite).
CONTEXT_EVENT_TYPES = frozenset({"view", "click", "cart", "purchase"})
#: How often (seconds) the directory is listed for files other processes started.
_LIST_EVERY = 1.0


@dataclass(frozen=True, slots=True)
class Event:
    tenant_id: str
    customer_id: str
    item_id: str
    occurred_at: datetime  # UTC, naive
    event_type: str = "view"
    quantity: int = 1


def _text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


class EventLog:
    """The log directory, appended to and read by one server process."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._offsets: dict[Path, int] = {}
        self._listed_at = float("-inf")
        self._recent: dict[tuple[str, str], deque[tuple[datetime, str, str]]] = {}
        self._header = ",".join(COLUMNS) + "\n"

    # --- writing ------------------------------------------------------------------------------

    def append(self, events: Sequence[Event]) -> None:
        """Append the events to today's file (UTC), in one write."""
        if not events:
            return
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        for e in events:
            writer.writerow(
                [
                    e.tenant_id,
                    e.customer_id,
                    e.item_id,
                    _text(e.occurred_at),
                    e.event_type,
                    e.quantity,
                ]
            )
        path = self._file_of(datetime.now(UTC))
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, buffer.getvalue().encode())
        finally:
            os.close(fd)

    def _path_of(self, day: datetime) -> Path:
        return self.directory / f"events-{day:%Y-%m-%d}.csv"

    def _file_of(self, day: datetime) -> Path:
        """Today's file, created with its header line if it does not exist yet: written to a
        temporary file and linked into place, so no process ever appends to a file without
        its header."""
        path = self._path_of(day)
        if path.exists():
            return path
        self.directory.mkdir(parents=True, exist_ok=True)
        temporary = self.directory / f".{path.name}.{os.getpid()}.{threading.get_ident()}"
        temporary.write_text(self._header)
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process made it first
        finally:
            temporary.unlink()
        return path

    # --- reading ------------------------------------------------------------------------------

    def recent(self, tenant_id: str, customer_id: str, after: datetime | None) -> list[str]:
        """The items of the customer's events that occurred after ``after`` (None: all kept),
        most recent first, each once; returns excluded."""
        with self._lock:
            self._catch_up()
            kept = self._recent.get((tenant_id, customer_id), ())
            ordered = sorted(kept, key=lambda event: event[0], reverse=True)
        return list(
            dict.fromkeys(
                item
                for occurred_at, item, event_type in ordered
                if (after is None or occurred_at > after) and event_type in CONTEXT_EVENT_TYPES
            )
        )

    def _catch_up(self) -> None:
        """Read the lines appended to the log since the last call (by any process)."""
        now = time.monotonic()
        today = self._path_of(datetime.now(UTC))
        if today not in self._offsets and today.exists():  # a new day, started by anyone
            self._offsets[today] = 0
        if now - self._listed_at >= _LIST_EVERY:
            self._listed_at = now
            if self.directory.is_dir():
                for path in sorted(self.directory.glob("events-*.csv")):
                    self._offsets.setdefault(path, 0)
        for path, offset in self._offsets.items():
            try:
                size = os.stat(path).st_size
            except FileNotFoundError:
                continue  # archived by the operator
            if size <= offset:
                continue
            with open(path, "rb") as file:
                file.seek(offset)
                chunk = file.read(size - offset)
            complete = chunk.rfind(b"\n") + 1  # a line being written is read next time
            self._offsets[path] = offset + complete
            self._add(chunk[:complete].decode(errors="replace").splitlines())

    def _add(self, lines: Iterable[str]) -> None:
        for row in csv.reader(lines):
            if len(row) != len(COLUMNS) or row[0] == COLUMNS[0]:
                continue  # the header, or a line edited by hand
            tenant_id, customer_id, item_id, occurred_at, event_type, _ = row
            try:
                moment = datetime.fromisoformat(occurred_at)
            except ValueError:
                continue
            kept = self._recent.get((tenant_id, customer_id))
            if kept is None:
                kept = self._recent[tenant_id, customer_id] = deque(maxlen=KEPT_PER_CUSTOMER)
            kept.append((moment, item_id, event_type))


__all__ = ["COLUMNS", "Event", "EventLog", "events_directory"]
