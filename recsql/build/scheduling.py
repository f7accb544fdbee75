"""Which of a build's dbt nodes may run at the same time.

``recsql build`` runs dbt on :data:`THREADS` threads: while one SQL model waits on dbt's own
work around it (compiling, renaming its table, writing its results), another runs in DuckDB,
and most of a nightly build's 120 nodes are small (on the 1,000-tenant benchmark's night, 88
of them under 0.15 s each). Some nodes must still run alone, and :class:`NodeGate` - a
callback on dbt's events that holds a node's thread at its start until it may run - sees to
it:

- **a Python model runs alone** - in a build that is not small against its memory budget
  (:class:`Smallness`). The engine's models build tenants in shards sized to
  the memory the build's process tree leaves of its budget, and between shards hand DuckDB's
  cached memory back by lowering its limit for a moment (:mod:`recsql.engine.shards`): a
  query running beside them would take that memory, or fail for the lack of it. A Python
  model waiting keeps the next nodes from starting, so it never waits behind a stream of
  small ones. In a small build - the demo's half million interactions in a budget of
  4 GiB or more, or a night that trains and scores a few of a fleet's tenants, once the
  engine's input is made - the engine's models build their tenants with memory to spare
  and hand nothing back (:func:`recsql.engine.shards.beside_sql_models`): they run beside
  the SQL models, on the core a Python model's own work leaves idle (the demo build 20.7 ->
  19.4 s, the medians of four alternating pairs; the 1,000-tenant night 20.5 -> 19.3 s, of
  three). The publication, which writes the served file, runs alone in every build.
- **a node that reads a streamed input runs alone.** An input table of CSV files reaches
  DuckDB as a stream (the recsql plugin's :meth:`~recsql.build.dbt_plugin.Plugin.load`),
  which dbt-duckdb registers on every cursor it opens after, from a dict it reads without a
  lock: a node opening its cursor while another loaded such a source failed ("dictionary
  changed size during iteration"). Parquet inputs, and optional inputs without files, are
  views the plugin made when the database opened (:func:`recsql.build.dbt_plugin.streams`
  tells which are which).
- **nodes that read a source the plugin loads take turns until it is loaded.** dbt-duckdb
  loads a plugin's source (the state's versions and stored models, the served file's
  fingerprints, a streamed input) when the first node that reads it is compiled, with
  ``save_mode: ignore`` keeping it after: two nodes compiled at once would both create its
  table, and one would fail on DuckDB's catalog; and the plugin reads the state through its
  one connection, which two loads at once found busy ("connection is busy with another
  call"). Once a node that reads a source has finished without an error, the source is a
  table of the build database, and the nodes reading it after run side by side (on the
  1,000-tenant night, six small models over the state's stored models ran one after the
  other). Parquet inputs are never loaded: the nodes that read them run side by side.

Everything else is independent for dbt's graph, and DuckDB runs concurrent queries on one
database, under its one ``memory_limit`` (each SQL model's pre-hook sets it from what the
process tree holds: ``macros/duckdb_memory_limit.sql``). A plain ``dbt build`` of the project
has no gate and runs on the one thread of ``profiles.yml``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping, Set
from typing import Any

from recsql.engine import shards

#: dbt's threads in ``recsql build`` (``--threads``): a second one hides dbt's overhead
#: between small nodes; DuckDB already runs each query on every core. (1,000 tenants' night:
#: 25.5 -> 23.2 s.)
THREADS = 2

#: A build is small when the rows of its engine's input, at what the engine's shards first
#: take each to need (:data:`recsql.engine.shards.BYTES_PER_ROW`), would take at most this
#: share of its memory budget: its Python models then run beside the SQL models.
SMALL_BUILD_SHARE = 0.25
#: The Python model that runs alone in every build: it writes the served file.
PUBLICATION = "model.recsql.publication"


def python_runs_alone(rows: int, budget: int) -> bool:
    """Whether a build whose engine reads ``rows`` interaction rows, within ``budget`` bytes,
    runs each Python model alone (it is not small: :data:`SMALL_BUILD_SHARE`)."""
    return rows * shards.BYTES_PER_ROW > budget * SMALL_BUILD_SHARE


class Smallness:
    """Whether a build is small (:func:`python_runs_alone`), as far as it is known: from at
    most how many ``interactions`` its input holds (None: not known), or, once the engine's
    input is made, from its rows - the interactions of the tenants the build trains or
    scores, which a night with few of them due has far fewer of
    (models/engine/int_interactions_weighted notes their number: :func:`note_engine_rows`).
    A build small from the start stays small: a Python model running beside SQL models must
    not start handing DuckDB's memory back under them."""

    def __init__(self, interactions: int | None, budget: int):
        self.interactions = interactions
        self.budget = budget
        self.engine_rows: int | None = None

    def __call__(self) -> bool:
        return any(
            rows is not None and not python_runs_alone(rows, self.budget)
            for rows in (self.interactions, self.engine_rows)
        )


_deciding: Smallness | None = None


@contextlib.contextmanager
def deciding(smallness: Smallness) -> Iterator[None]:
    """Inside the block, the build is as small as ``smallness`` says: :func:`note_engine_rows`
    notes to it, and the engine's shards hand DuckDB's memory back only while it is not
    (:func:`recsql.engine.shards.beside_sql_models`)."""
    global _deciding
    previous, _deciding = _deciding, smallness
    try:
        with shards.beside_sql_models(smallness):
            yield
    finally:
        _deciding = previous


def note_engine_rows(rows: int) -> int:
    """The engine's input has ``rows`` rows (the recsql dbt plugin's SQL function
    ``recsql_engine_rows``, int_interactions_weighted's post-hook); returns ``rows``."""
    if _deciding is not None:
        _deciding.engine_rows = int(rows)
    return rows


class NodeGate:
    """A dbt callback that starts a node only when it may run beside the nodes running: a
    node that runs alone (in ``python`` - in ``always_alone`` or while the build is not
    ``small`` - or reading a source ``streamed`` says is streamed) only when no other node
    runs; any other node only when no node runs alone or waits to,
    and, if it reads one of its ``sources`` that ``loaded`` says the plugin loads and that no
    node has read yet, no running node reads one too."""

    def __init__(
        self,
        python: Set[str],
        sources: Mapping[str, Set[str]],
        streamed: Callable[[str], bool] = lambda source: False,
        loaded: Callable[[str], bool] = lambda source: True,
        small: Callable[[], bool] = lambda: False,
        always_alone: Set[str] = frozenset(),
    ):
        self.python = frozenset(python)
        self.small = small
        self.always_alone = frozenset(always_alone)
        self.sources = {node: frozenset(read) for node, read in sources.items() if read}
        self.streamed = streamed
        self.loaded = loaded
        self._changed = threading.Condition()
        self._running: set[str] = set()
        self._running_alone = False
        self._waiting_alone = 0
        # the sources read by a node that finished without an error: loaded, tables now
        self._read: set[str] = set()

    @classmethod
    def for_manifest(
        cls,
        manifest: Any,
        streamed: Callable[[str], bool],
        loaded: Callable[[str], bool],
        small: Callable[[], bool] = lambda: False,
    ) -> NodeGate:
        """The gate of a parsed project: its Python models (alone unless the build is
        ``small``, the publication always), and its nodes by the sources they read."""
        python, sources = set(), {}
        for unique_id, node in manifest.nodes.items():
            if getattr(node, "language", None) == "python":
                python.add(unique_id)
            depends_on = getattr(getattr(node, "depends_on", None), "nodes", None) or []
            sources[unique_id] = {parent for parent in depends_on if parent.startswith("source.")}
        return cls(python, sources, streamed, loaded, small, python & {PUBLICATION})

    def __call__(self, event: Any) -> None:
        name = event.info.name
        if name == "NodeStart":
            self.start(event.data.node_info.unique_id)
        elif name == "NodeFinished":
            status = str(event.data.run_result.status).lower()
            self.finish(event.data.node_info.unique_id, read=status not in ("error", "skipped"))
        elif name == "GenericExceptionOnRun":
            # a node that raised: dbt says so, but when its runner raised past its own error
            # handling it fires no NodeFinished - the node would hold the others forever
            self.finish(event.data.unique_id, read=False)

    def runs_alone(self, node: str) -> bool:
        """Whether ``node`` runs alone: a Python model (unless the build is small, and it
        need not always run alone), or a node that reads a streamed source."""
        python = node in self.python and (node in self.always_alone or not self.small())
        return python or any(map(self.streamed, self.sources.get(node, ())))

    def start(self, node: str) -> None:
        """Wait until ``node`` may run, and count it as running."""
        with self._changed:
            if self.runs_alone(node):
                self._waiting_alone += 1
                try:
                    self._changed.wait_for(lambda: not self._running)
                finally:
                    self._waiting_alone -= 1
                self._running_alone = True
            else:
                self._changed.wait_for(lambda: self._may_join(node))
            self._running.add(node)

    def finish(self, node: str, read: bool = True) -> None:
        """``node`` is done (``read``: without an error, its sources are loaded): let the nodes
        waiting for it start."""
        with self._changed:
            self._running.discard(node)
            if read:
                self._read |= self.sources.get(node, frozenset())
            if not self._running:
                self._running_alone = False
            self._changed.notify_all()

    def _may_join(self, node: str) -> bool:
        if self._waiting_alone or self._running_alone:
            return False
        return not self._loads(node) or not any(map(self._loads, self._running))

    def _loads(self, node: str) -> bool:
        """Whether ``node`` reads a source the plugin loads and that is not loaded yet."""
        return any(
            self.loaded(source) and source not in self._read
            for source in self.sources.get(node, ())
        )
