"""The published file a server answers from, switched to each new build without a wait.

:class:`Served` opens the file with ``recsql.open``'s :class:`~recsql.serving.Recommender`
(``follow_publishes=False``), and a thread of its own watches the path: when a build publishes
(an atomic rename: the path's inode changes) it opens the new file in a second
``Recommender``, loads every tenant the first one had loaded, and only then makes it the
current one. Requests keep being answered from the old build meanwhile (its file stays
readable: the rename does not remove what is open), so nobody waits for a load and nobody
sees a failed request; the old recommender is closed once no request can still be using it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import duckdb

from recsql.serving import Recommender, RecsqlError

log = logging.getLogger(__name__)

#: Seconds an old build stays open after the switch: longer than any request takes.
RETIRE_AFTER = 30.0


class Served:
    """The current build of the served file (``current``: None until one is published)."""

    def __init__(self, db: Path, poll_seconds: float = 0.25) -> None:
        self.db = db
        self.current: Recommender | None = None
        self._poll = poll_seconds
        self._failed: tuple[int, int] | None = None
        self._retired: list[tuple[float, Recommender]] = []
        self._stop = threading.Event()
        self.refresh()
        self._thread = threading.Thread(target=self._watch, name="recsql-served", daemon=True)
        self._thread.start()

    def refresh(self) -> None:
        """Switch to the file at the path if a build published a new one since the last look."""
        try:
            stat = os.stat(self.db)
        except FileNotFoundError:
            return  # not built yet, or between a removal and a publish: keep what is open
        identity = (stat.st_dev, stat.st_ino)
        current = self.current
        if identity == self._failed or (current is not None and current.identity == identity):
            return
        try:
            fresh = Recommender(self.db, follow_publishes=False)
            for tenant_id in current.loaded_tenants if current is not None else []:
                if tenant_id in fresh.tenant_ids:
                    fresh.load(tenant_id)
        except (FileNotFoundError, RecsqlError, duckdb.Error) as error:
            self._failed = identity
            log.error("cannot serve %s: %s", self.db, error)
            return
        self.current = fresh
        if current is not None:
            self._retired.append((time.monotonic(), current))
        log.info("serving %s as built at %s", self.db, fresh.built_as_of)

    def _watch(self) -> None:
        while not self._stop.wait(self._poll):
            try:
                self.refresh()
            except Exception:  # the watcher must outlive any surprise, or the server goes stale
                log.exception("watching %s", self.db)
            now = time.monotonic()
            while self._retired and now - self._retired[0][0] > RETIRE_AFTER:
                self._retired.pop(0)[1].close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for _, old in self._retired:
            old.close()
        if self.current is not None:
            self.current.close()


__all__ = ["Served"]
