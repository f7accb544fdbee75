"""Zero-downtime publishing: rebuilding the served database never disturbs its readers.

A build writes the new database to a file of its own (``<db>.next``), checks it, and renames it
over the served file (recsql/build/publish.py). What users rely on, tested here with reader
processes that query in a loop while the database is rebuilt twice and two builds are killed:

- a reader that has the database open keeps answering from the build it opened, without error;
- a new reader never meets a lock, an error or a half-built database: every answer it gets is
  a whole list of one published build (one model_version, ranks 1..n, the list that build
  published);
- a build killed with SIGKILL, while dbt runs or while it writes ``<db>.next``, leaves the
  served file byte for byte as it was, and the next build publishes normally;
- ``recsql.open()`` switches to the new build on its own after a publish.

The two inputs are the same shop with different tenant settings (k = 10 with the champion
algorithm, k = 6 with popularity), so the builds' lists differ in length and content.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest

import recsql
from tests.conftest import AS_OF, REPO, query

pytestmark = pytest.mark.slow

LIST_LENGTH = {"A": 10, "B": 6}
#: Customers of each tenant that the readers ask for by name.
CUSTOMERS_PER_TENANT = 25
#: How many lists a reader asks for per full read of the recommendations view.
LISTS_PER_FULL_READ = 5
#: How long readers keep reading after the last publish.
READ_AFTER_LAST_PUBLISH = 3.0
BUILD_TIMEOUT = 180
#: Seconds a reader pauses between iterations (one API iteration asks for every customer).
PAUSE = {"new": 0.03, "connected": 0.03, "api": 0.1}

FULL_READ = (
    "select tenant_id, customer_id, rank, item_id, model_version from recommendations "
    "order by tenant_id, customer_id, rank"
)
ONE_LIST = "select rank, item_id, model_version from recommend(?, ?, 10) order by rank"
RUN_READER = "from tests.test_publish_concurrency import run_reader; run_reader()"
PROGRESS = re.compile(r"\[\s*(\d+)/(\d+)\]")

Lists = dict[str, list[list]]  # "tenant/customer" -> [[rank, item_id], ...]


def list_key(tenant: str, customer: str) -> str:
    return f"{tenant}/{customer}"


def whole_list_problem(ranks: list[int]) -> str | None:
    """Why a list is not whole (ranks 1..n in order), or None."""
    if ranks != list(range(1, len(ranks) + 1)):
        return f"ranks {ranks}"
    return None


def read_all_lists(rows: list[tuple]) -> tuple[str | None, Lists, list[str]]:
    """The model version, the lists and any problems of a full read (FULL_READ) of the view."""
    versions = sorted({row[4] for row in rows})
    problems = [f"model versions {versions} in one answer"] if len(versions) > 1 else []
    lists: Lists = {}
    for tenant, customer, rank, item, _ in rows:
        lists.setdefault(list_key(tenant, customer), []).append([rank, item])
    for key, rows_of_list in lists.items():
        problem = whole_list_problem([rank for rank, _ in rows_of_list])
        if problem:
            problems.append(f"{key}: {problem}")
    return (versions[0] if versions else None), lists, problems


def digest(lists: Lists) -> str:
    return hashlib.sha256(json.dumps(lists, sort_keys=True).encode()).hexdigest()


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- the reader processes -------------------------------------------------------------------


@dataclass
class ReaderLog:
    """What one reader saw; written as JSON when it stops."""

    mode: str
    queries: int = 0
    errors: int = 0
    error_messages: list[str] = field(default_factory=list)
    #: answers that are not a whole list of one build, found by the reader itself
    broken_answers: list[str] = field(default_factory=list)
    #: model_version -> digest of the full read of the recommendations view
    full_reads: dict[str, str] = field(default_factory=dict)
    #: model_version -> lists the reader got from recommend() (SQL readers)
    lists: dict[str, Lists] = field(default_factory=dict)
    #: every distinct list recsql.open() returned, per customer, and the last one (API reader)
    api_lists: dict[str, list[list[list]]] = field(default_factory=dict)
    api_last_lists: Lists = field(default_factory=dict)

    def error(self, error: BaseException) -> None:
        self.errors += 1
        if len(self.error_messages) < 20:
            first_line = (str(error).splitlines() or [""])[0]
            self.error_messages.append(f"{type(error).__name__}: {first_line}")

    def broken(self, message: str) -> None:
        if len(self.broken_answers) < 50:
            self.broken_answers.append(message)

    def saw_full_read(self, rows: list[tuple]) -> None:
        version, lists, problems = read_all_lists(rows)
        for problem in problems:
            self.broken(f"full read of {version}: {problem}")
        if version is None:
            self.broken("full read: no lists")
            return
        seen = self.full_reads.setdefault(version, digest(lists))
        if seen != digest(lists):
            self.broken(f"full read of {version}: differs from an earlier read of it")

    def saw_list(self, key: str, rows: list[tuple]) -> None:
        versions = sorted({row[2] for row in rows})
        if len(versions) > 1:
            self.broken(f"{key}: model versions {versions} in one list")
        problem = whole_list_problem([row[0] for row in rows])
        if problem:
            self.broken(f"{key}: {problem}")
        version = versions[0] if versions else "(empty)"
        answer = [[rank, item] for rank, item, _ in rows]
        seen = self.lists.setdefault(version, {}).setdefault(key, answer)
        if seen != answer:
            self.broken(f"{key}: {answer} differs from {seen}, an earlier answer of {version}")

    def saw_api_list(self, key: str, answer: list[list]) -> None:
        problem = whole_list_problem([rank for rank, _ in answer])
        if problem:
            self.broken(f"recsql.open() {key}: {problem}")
        distinct = self.api_lists.setdefault(key, [])
        if answer not in distinct:
            distinct.append(answer)
        self.api_last_lists[key] = answer


def read_with_new_connections(db: str, keys: list[list[str]], log: ReaderLog) -> None:
    """One iteration of a new reader: connect, ask, disconnect."""
    con = duckdb.connect(db, read_only=True)
    try:
        ask_sql(con, keys, log)
    finally:
        con.close()


def ask_sql(con: duckdb.DuckDBPyConnection, keys: list[list[str]], log: ReaderLog) -> None:
    """A full read of the recommendations view, then a few customers' lists by recommend()."""
    log.queries += 1
    log.saw_full_read(con.execute(FULL_READ).fetchall())
    start = (log.queries * LISTS_PER_FULL_READ) % len(keys)
    for tenant, customer in (keys * 2)[start : start + LISTS_PER_FULL_READ]:
        log.queries += 1
        log.saw_list(
            list_key(tenant, customer), con.execute(ONE_LIST, [tenant, customer]).fetchall()
        )


def ask_api(recommender, keys: list[list[str]], log: ReaderLog) -> None:
    for tenant, customer in keys:
        log.queries += 1
        answer = recommender.recommend(tenant, customer, 10)
        log.saw_api_list(list_key(tenant, customer), [[r.rank, r.item_id] for r in answer])


def run_reader() -> None:
    """Entry point of a reader process: argv is mode, db, keys file, stop file, report file.

    Modes: ``new`` opens a new read-only connection per iteration; ``connected`` keeps the one
    connection it opened first; ``api`` uses one ``recsql.open()``. The reader writes
    ``<report>.ready`` after its first answer and its ReaderLog once the stop file appears.
    """
    mode, db, keys_file, stop_file, report_file = sys.argv[1:6]
    keys = json.loads(Path(keys_file).read_text())
    log = ReaderLog(mode)
    ready = Path(report_file + ".ready")
    if mode == "new":

        def ask() -> None:
            read_with_new_connections(db, keys, log)
    elif mode == "connected":
        con = duckdb.connect(db, read_only=True)

        def ask() -> None:
            ask_sql(con, keys, log)
    else:
        recommender = recsql.open(db)

        def ask() -> None:
            ask_api(recommender, keys, log)

    while not Path(stop_file).exists():
        try:
            ask()
        except Exception as error:
            log.error(error)
        ready.touch()
        time.sleep(PAUSE[mode])  # leave the builds most of the CPU
    Path(report_file).write_text(json.dumps(log.__dict__))


# --- the builds -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Published:
    """A build as published: its lists, read back from the served file."""

    inputs: str
    model_version: str
    lists: Lists
    sha256: str

    @property
    def digest(self) -> str:
        return digest(self.lists)


@dataclass(frozen=True)
class KilledBuild:
    stage: str
    served_before: str
    served_after: str
    staged_file_left: bool
    fresh_read: str


def recsql_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "recsql.cli", *args]


def write_inputs_pair(root: Path) -> dict[str, Path]:
    """Inputs A (k = 10, champion) and B (the same shop, k = 6, popularity)."""
    a, b = root / "inputs_a", root / "inputs_b"
    generate = ["--tenants", "2", "--customers", "200", "--items", "50", "--interactions", "2000"]
    subprocess.run(
        recsql_command("generate", *generate, "--seed", "1", "--format", "csv", "--out", str(a)),
        check=True,
        capture_output=True,
        cwd=REPO,
    )
    shutil.copytree(a, b)
    set_tenant_settings(a, k=LIST_LENGTH["A"], algorithm="auto")
    set_tenant_settings(b, k=LIST_LENGTH["B"], algorithm="popularity")
    return {"A": a, "B": b}


def set_tenant_settings(inputs: Path, **settings: object) -> None:
    path = inputs / "tenants.csv"
    with path.open(newline="") as file:
        rows = list(csv.DictReader(file))
    for row in rows:
        row.update({name: str(value) for name, value in settings.items()})
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]), quoting=csv.QUOTE_ALL)
        writer.writeheader()
        writer.writerows(rows)


@contextlib.contextmanager
def running_build(inputs: Path, db: Path, output: Path) -> Iterator[subprocess.Popen]:
    """``recsql build`` in a process group of its own, its output going to ``output``; killed
    if still running on exit."""
    with output.open("w") as out:
        process = subprocess.Popen(
            # every build has a state of its own, so every tenant gets a first version, served
            # at once: the lists of each build carry a model_version of their own, what the
            # readers tell builds apart by
            recsql_command(
                *("build", "--data", str(inputs), "--db", str(db), "--as-of", AS_OF),
                *("--state", str(output.with_name(output.name + ".state.duckdb"))),
            ),
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def build(inputs: Path, db: Path, output: Path) -> None:
    with running_build(inputs, db, output) as process:
        returncode = process.wait(timeout=BUILD_TIMEOUT)
    assert returncode == 0, f"build of {inputs} failed:\n{output.read_text()[-3000:]}"


def read_published(db: Path, inputs: str) -> Published:
    version, lists, problems = read_all_lists(query(db, FULL_READ))
    assert not problems, problems
    assert version is not None, "the published build has no lists"
    return Published(inputs, version, lists, sha256_of(db))


def staged_file(db: Path) -> Path:
    return db.with_name(db.name + ".next")


def kill_build_when(
    inputs: Path, db: Path, output: Path, stage: str, reached: Callable[[Path, Path], bool]
) -> KilledBuild:
    """Start a build, SIGKILL it as soon as it has ``reached(db, output)``, and look at the
    served file."""
    served_before = sha256_of(db)
    with running_build(inputs, db, output) as process:
        deadline = time.monotonic() + BUILD_TIMEOUT
        while not reached(db, output):
            assert process.poll() is None, f"the build ended before {stage}:\n{output.read_text()}"
            assert time.monotonic() < deadline, f"the build never reached {stage}"
            time.sleep(0.002)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    [(lists, version)] = query(db, "select count(*), any_value(model_version) from recommendations")
    return KilledBuild(
        stage, served_before, sha256_of(db), staged_file(db).exists(), f"{lists} rows of {version}"
    )


def dbt_is_a_third_done(db: Path, output: Path) -> bool:
    progress = PROGRESS.findall(output.read_text()) if output.exists() else []
    return any(3 * int(index) >= int(total) for index, total in progress)


def publishing_has_begun(db: Path, output: Path) -> bool:
    return staged_file(db).exists()


# --- the scenario ---------------------------------------------------------------------------


@dataclass
class Scenario:
    published: list[Published]
    killed: list[KilledBuild]
    reports: dict[str, dict]
    #: (step, seconds it took)
    steps: list[tuple[str, float]]
    #: whether <db>.next was still there after the last build
    staged_file_left: bool

    def build_of(self, version: str) -> Published | None:
        return next((p for p in self.published if p.model_version == version), None)


def customers_to_ask(published: Published) -> list[tuple[str, str]]:
    """The first customers (by id) of every tenant that have a list."""
    per_tenant: dict[str, list[str]] = {}
    for key in sorted(published.lists):
        tenant, customer = key.split("/")
        per_tenant.setdefault(tenant, []).append(customer)
    return [
        (tenant, customer)
        for tenant, customers in per_tenant.items()
        for customer in customers[:CUSTOMERS_PER_TENANT]
    ]


def start_readers(root: Path, db: Path, keys: list[tuple[str, str]]) -> dict[str, subprocess.Popen]:
    """Two new-connection readers, one connected reader and, if available, a recsql.open().

    Each in a process of its own: within a process, DuckDB's Python client hands a new
    connection to a path the database instance already open there (by path), i.e. the old
    file after a publish, for as long as any connection to it is open.
    """
    modes = {"new-1": "new", "new-2": "new", "connected": "connected"}
    if hasattr(recsql, "open"):
        modes["api"] = "api"
    keys_file = root / "keys.json"
    keys_file.write_text(json.dumps(keys))
    files = [str(keys_file), str(root / "stop")]
    return {
        name: subprocess.Popen(
            [sys.executable, "-c", RUN_READER, mode, str(db), *files, str(root / f"{name}.json")],
            cwd=REPO,
        )
        for name, mode in modes.items()
    }


def wait_until_answering(root: Path, readers: dict[str, subprocess.Popen]) -> None:
    deadline = time.monotonic() + 60
    for name, process in readers.items():
        while not (root / f"{name}.json.ready").exists():
            assert process.poll() is None, f"reader {name} exited early"
            assert time.monotonic() < deadline, f"reader {name} never answered"
            time.sleep(0.05)


def stop_readers(root: Path, readers: dict[str, subprocess.Popen]) -> dict[str, dict]:
    (root / "stop").touch()
    for process in readers.values():
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return {
        name: json.loads((root / f"{name}.json").read_text())
        for name in readers
        if (root / f"{name}.json").exists()
    }


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    """Build A; then, with readers reading: build B, kill a build of A while dbt runs, kill
    one while it writes <db>.next, build A again."""
    steps: list[tuple[str, float]] = []
    step_started = time.monotonic()

    def done(step: str) -> None:
        nonlocal step_started
        steps.append((step, time.monotonic() - step_started))
        step_started = time.monotonic()

    root = tmp_path_factory.mktemp("publish")
    db = root / "served.duckdb"
    inputs = write_inputs_pair(root)
    build(inputs["A"], db, root / "build-1.log")
    published = [read_published(db, "A")]
    done("build A")
    readers = start_readers(root, db, customers_to_ask(published[0]))
    try:
        wait_until_answering(root, readers)
        done("start readers")
        build(inputs["B"], db, root / "build-2.log")
        published.append(read_published(db, "B"))
        done("build B")
        killed = [kill_build_when(inputs["A"], db, root / "kill-1.log", "dbt", dbt_is_a_third_done)]
        done("kill while dbt runs")
        killed.append(
            kill_build_when(
                inputs["A"], db, root / "kill-2.log", "publishing", publishing_has_begun
            )
        )
        done("kill while publishing")
        build(inputs["A"], db, root / "build-3.log")
        published.append(read_published(db, "A"))
        done("build A again")
        time.sleep(READ_AFTER_LAST_PUBLISH)
    finally:
        reports = stop_readers(root, readers)
    done("read on, stop readers")
    result = Scenario(published, killed, reports, steps, staged_file(db).exists())
    print(
        "\n"
        + ", ".join(f"{step} {seconds:.1f}s" for step, seconds in steps)
        + f"\npublished {[p.model_version for p in published]}\n"
        + "\n".join(
            f"{name}: {r['queries']} queries, {r['errors']} errors, "
            f"versions {sorted(set(r['full_reads']) | set(r['lists']))}"
            for name, r in reports.items()
        )
    )
    yield result


# --- the tests ------------------------------------------------------------------------------


def mismatched_answers(scenario: Scenario, report: dict) -> list[str]:
    """The answers of a SQL reader that are not what a published build published."""
    wrong = []
    for version, seen_digest in report["full_reads"].items():
        published = scenario.build_of(version)
        if published is None:
            wrong.append(f"full read of {version}, a build that was never published")
        elif seen_digest != published.digest:
            wrong.append(f"full read of {version} differs from what that build published")
    for version, lists in report["lists"].items():
        published = scenario.build_of(version)
        for key, answer in lists.items():
            expected = published.lists.get(key, [])[:10] if published else None
            if answer != expected:
                wrong.append(f"{key} of {version}: {answer}, published {expected}")
    return wrong


def test_every_published_build_has_whole_lists(scenario: Scenario) -> None:
    versions = [p.model_version for p in scenario.published]
    assert len(set(versions)) == len(versions), versions
    for published in scenario.published:
        lengths = {len(answer) for answer in published.lists.values()}
        assert lengths == {LIST_LENGTH[published.inputs]}, (published.model_version, lengths)


def test_new_readers_get_whole_lists_of_published_builds(scenario: Scenario) -> None:
    reports = {name: r for name, r in scenario.reports.items() if name.startswith("new")}
    assert len(reports) == 2, f"reports of {sorted(scenario.reports)}"
    for name, report in reports.items():
        assert report["errors"] == 0, (name, report["error_messages"])
        assert report["broken_answers"] == [], name
        assert mismatched_answers(scenario, report) == [], name
        assert report["queries"] >= 300, (name, report["queries"])
        # they read before, between and after the publishes: every published build
        assert set(report["full_reads"]) == {p.model_version for p in scenario.published}, name


def test_a_connected_reader_keeps_reading_the_build_it_opened(scenario: Scenario) -> None:
    report = scenario.reports["connected"]
    assert report["errors"] == 0, report["error_messages"]
    assert report["broken_answers"] == []
    assert mismatched_answers(scenario, report) == []
    assert report["queries"] >= 300, report["queries"]
    first = scenario.published[0].model_version
    assert set(report["full_reads"]) == {first}
    assert set(report["lists"]) == {first}


@pytest.mark.parametrize("stage", ["dbt", "publishing"])
def test_a_killed_build_leaves_the_served_file_as_it_was(scenario: Scenario, stage: str) -> None:
    [killed] = [k for k in scenario.killed if k.stage == stage]
    assert killed.served_after == killed.served_before
    assert killed.served_after == scenario.published[1].sha256
    if stage == "publishing":
        assert killed.staged_file_left, "the kill came after the rename: too late to test"
    version = scenario.published[1].model_version
    assert killed.fresh_read.endswith(f"rows of {version}"), killed.fresh_read


def test_a_build_after_killed_builds_publishes(scenario: Scenario) -> None:
    last = scenario.published[-1]
    assert not scenario.staged_file_left
    assert last.model_version not in {p.model_version for p in scenario.published[:-1]}
    # the same inputs as the first build: the same lists
    assert last.lists == scenario.published[0].lists


def test_the_python_api_switches_to_the_new_build(scenario: Scenario) -> None:
    if "api" not in scenario.reports:
        pytest.skip("recsql.open() is not available")
    report = scenario.reports["api"]
    assert report["errors"] == 0, report["error_messages"]
    assert report["broken_answers"] == []
    assert report["queries"] >= 300, report["queries"]
    first, second, last = scenario.published

    def builds_matching(key: str, answer: list[list]) -> set[str]:
        return {p.inputs for p in (first, second) if p.lists.get(key, [])[:10] == answer}

    served = set()
    for key, answers in report["api_lists"].items():
        for answer in answers:
            matching = builds_matching(key, answer)
            assert matching, f"{key}: {answer} is no published list"
            served |= matching
    assert served == {"A", "B"}, "recsql.open() did not switch to the build published later"
    assert report["api_last_lists"] == {
        key: last.lists.get(key, [])[:10] for key in report["api_last_lists"]
    }
