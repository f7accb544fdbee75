"""Which of a build's dbt nodes may run at the same time (recsql/build/scheduling.py): the gate
on its own, with threads standing for dbt's, and the project's nodes as the gate sees them."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from recsql.build import scheduling
from recsql.build.scheduling import NodeGate

#: How long a thread that should be held is watched before it counts as held.
HELD = 0.3


def _event(name: str, node: str, status: str = "success") -> SimpleNamespace:
    """A dbt event as the gate reads it (``status``: a NodeFinished's run result's)."""
    return SimpleNamespace(
        info=SimpleNamespace(name=name),
        data=SimpleNamespace(
            node_info=SimpleNamespace(unique_id=node),
            run_result=SimpleNamespace(status=status),
        ),
    )


class _Node:
    """A dbt thread starting ``node``: ``started`` once the gate lets it run."""

    def __init__(self, gate: NodeGate, node: str):
        self.gate, self.node = gate, node
        self.started = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.gate(_event("NodeStart", self.node))
        self.started.set()

    def finish(self, status: str = "success") -> None:
        assert self.started.wait(5), f"{self.node} never started"
        self.gate(_event("NodeFinished", self.node, status))

    def held(self) -> bool:
        return not self.started.wait(HELD)


@pytest.fixture
def gate() -> NodeGate:
    return NodeGate(
        python={"model.engine", "model.publication"},
        sources={
            "model.stg_a_hashed": {"source.inputs.a"},
            "model.stg_a_validated": {"source.inputs.a"},
            "model.stg_b": {"source.inputs.b"},
            "model.stg_c": {"source.inputs.c"},
            "model.plans": {"source.state.versions", "source.published.inputs"},
            "model.active": {"source.state.versions"},
            "model.active_too": {"source.state.versions"},
            "model.judged": {"source.state.stored"},
            "model.judged_too": {"source.state.stored"},
            "model.repurchase": {"source.state.repurchase"},
        },
        # inputs a and b are Parquet views (never loaded), c is streamed
        streamed=lambda source: source == "source.inputs.c",
        loaded=lambda source: source not in ("source.inputs.a", "source.inputs.b"),
    )


def test_sql_nodes_run_side_by_side(gate: NodeGate) -> None:
    first, second = _Node(gate, "model.one"), _Node(gate, "model.two")
    assert not first.held() and not second.held()
    # nodes reading different sources too
    third, fourth = _Node(gate, "model.stg_a_hashed"), _Node(gate, "model.stg_b")
    assert not third.held() and not fourth.held()


def test_a_python_model_waits_for_the_running_nodes_and_runs_alone(gate: NodeGate) -> None:
    sql = _Node(gate, "model.one")
    assert not sql.held()
    engine = _Node(gate, "model.engine")
    assert engine.held()
    # while it waits, no node starts: it is not kept waiting by a stream of small ones
    later = _Node(gate, "model.two")
    assert later.held()
    sql.finish()
    assert not engine.held()
    assert later.held()
    # nor does another Python model start beside it
    publication = _Node(gate, "model.publication")
    assert publication.held()
    engine.finish()
    # one of the two waiting starts; the other waits until it is done
    time.sleep(HELD)
    assert publication.started.is_set() != later.started.is_set()
    (publication if publication.started.is_set() else later).finish()
    assert not publication.held() and not later.held()


def test_nodes_that_read_sources_the_plugin_loads_take_turns(gate: NodeGate) -> None:
    """The plugin loads a source when the first node reading it compiles, through its one
    connection: two such nodes never run at once, whichever sources they read; nodes reading
    the Parquet views of the inputs run side by side, even the same one."""
    plans = _Node(gate, "model.plans")
    assert not plans.held()
    active, judged = _Node(gate, "model.active"), _Node(gate, "model.judged")
    assert active.held() and judged.held()
    hashed, validated = _Node(gate, "model.stg_a_hashed"), _Node(gate, "model.stg_a_validated")
    assert not hashed.held() and not validated.held()
    # it failed: the sources it reads may not be loaded, the next node reading them loads them
    plans.finish(status="error")
    time.sleep(HELD)
    assert active.started.is_set() != judged.started.is_set()
    (active if active.started.is_set() else judged).finish()
    assert not active.held() and not judged.held()


def test_a_loaded_source_is_read_side_by_side(gate: NodeGate) -> None:
    """Once a node that read a source finished without an error, the source is a table of the
    build database: the nodes that read it after run side by side, and beside a node that
    loads another source."""
    plans = _Node(gate, "model.plans")
    judged = _Node(gate, "model.judged")
    assert not plans.held() and judged.held()
    plans.finish()
    assert not judged.held()  # the stored models load now
    # versions are loaded: its readers start beside judged and each other
    active, active_too = _Node(gate, "model.active"), _Node(gate, "model.active_too")
    assert not active.held() and not active_too.held()
    # another source still to load waits for judged's load
    repurchase = _Node(gate, "model.repurchase")
    assert repurchase.held()
    judged.finish()
    assert not repurchase.held()
    assert not _Node(gate, "model.judged_too").held()


def test_a_node_whose_runner_raised_lets_the_others_run(gate: NodeGate) -> None:
    """When a node's runner raises past its own error handling, dbt reports the exception
    (GenericExceptionOnRun) but fires no NodeFinished: the node is done all the same, and the
    nodes waiting for it start instead of waiting forever."""
    engine = _Node(gate, "model.engine")
    assert not engine.held()
    later = _Node(gate, "model.two")
    assert later.held()
    gate(
        SimpleNamespace(
            info=SimpleNamespace(name="GenericExceptionOnRun"),
            data=SimpleNamespace(unique_id="model.engine", node_info=SimpleNamespace()),
        )
    )
    assert not later.held()


def test_other_events_pass_through(gate: NodeGate) -> None:
    engine = _Node(gate, "model.engine")
    assert not engine.held()
    gate(_event("LogModelResult", "model.one"))  # not a start: not held
    engine.finish()
    assert not _Node(gate, "model.one").held()


def test_a_node_that_reads_a_streamed_source_runs_alone(gate: NodeGate) -> None:
    """A CSV input reaches DuckDB as a stream that dbt-duckdb registers on every cursor it
    opens: no node opens one while it is loaded."""
    sql = _Node(gate, "model.one")
    assert not sql.held()
    streamed = _Node(gate, "model.stg_c")
    assert streamed.held()
    sql.finish()
    assert not streamed.held()
    assert _Node(gate, "model.stg_b").held()


def _manifest(*nodes: tuple[str, str]) -> SimpleNamespace:
    """A parsed project as the gate reads it: (unique id, language) per node."""
    return SimpleNamespace(
        nodes={
            unique_id: SimpleNamespace(language=language, depends_on=SimpleNamespace(nodes=[]))
            for unique_id, language in nodes
        }
    )


def test_a_small_build_runs_its_python_models_beside_the_sql_ones_but_the_publication() -> None:
    """A build whose engine's input would take at most a quarter of its budget (at the 2,000
    bytes a row the engine's shards first take) is small: only the publication runs alone.
    Known first from the input's rows at most, then from the engine's input once it is made
    (a night that trains a few of a large fleet's tenants)."""
    gib = 2**30
    # the demo's half million interactions in 8 GiB; 1,000 generated tenants' 5 million
    assert not scheduling.python_runs_alone(536_395, 8 * gib)
    assert scheduling.python_runs_alone(5_000_000, 8 * gib)
    assert not scheduling.python_runs_alone(536_395, 4 * gib)  # the line: a quarter
    assert scheduling.python_runs_alone(536_395, 4 * gib - 4 * 2**20)
    fleet = scheduling.Smallness(5_000_000, 8 * gib)
    assert not fleet() and not scheduling.Smallness(None, 8 * gib)()
    scheduling.note_engine_rows(550_000)  # noted to no build: nothing changes
    assert not fleet()
    with scheduling.deciding(fleet):
        assert scheduling.note_engine_rows(550_000) == 550_000
    assert fleet.engine_rows == 550_000 and fleet()
    # small from the start, small to the end (its Python models may be running beside others)
    demo = scheduling.Smallness(536_395, 8 * gib)
    with scheduling.deciding(demo):
        scheduling.note_engine_rows(5_000_000)
    assert demo()
    manifest = _manifest(
        ("model.recsql.holdout_candidates", "python"),
        ("model.recsql.publication", "python"),
        ("model.recsql.list_candidates", "sql"),
    )
    small = False
    gate = NodeGate.for_manifest(
        manifest, streamed=lambda s: False, loaded=lambda s: True, small=lambda: small
    )
    assert gate.runs_alone("model.recsql.holdout_candidates")
    assert gate.runs_alone("model.recsql.publication")
    small = True
    assert not gate.runs_alone("model.recsql.holdout_candidates")
    assert gate.runs_alone("model.recsql.publication")
    sql = _Node(gate, "model.recsql.list_candidates")
    assert not sql.held()
    assert not _Node(gate, "model.recsql.holdout_candidates").held()
    assert _Node(gate, "model.recsql.publication").held()
