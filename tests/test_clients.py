"""The published database in other DuckDB clients: the DuckDB CLI and Node, both 1.5.

Applications read the published file with whatever DuckDB client they already use, often an
older one than the Python ``duckdb`` that built it. What they rely on: the file opens read-only
in the DuckDB CLI and in Node (``@duckdb/node-api``) from 1.4 on, also while another process
has it open read-only, and every view and every table macro gives there the same rows as in
Python ``duckdb``. The clients are pinned in pyproject.toml (``duckdb-cli``) and
tests/clients/node/package-lock.json (``@duckdb/node-api``); ``make test`` installs both.

Each client runs all the queries in one process. It serialises each row itself with ``to_json``,
so that the three answers arrive in one format; floats are compared to 9 significant digits.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from tests.conftest import REPO
from tests.test_rules import _inputs

pytestmark = pytest.mark.slow

NODE_CLIENT = REPO / "tests" / "clients" / "node"
#: The clients under test report a version starting with this: older than the Python duckdb.
CLIENT_VERSION = "v1.5."
TIMEOUT = 120


@dataclass(frozen=True)
class Query:
    sql: str
    ordered: bool  # compare the rows in order (a macro's list) or as a set (a view)


@dataclass(frozen=True)
class Answers:
    """What one client returned: the normalised rows of each query, or its error."""

    version: str
    rows: dict[str, list | str]
    log: str = ""


def _sql(value: object) -> str:
    """``value`` as a SQL literal (strings, None and lists of strings; ints as they are)."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, list):
        return "[" + ", ".join(_sql(v) for v in value) + "]"
    return str(value)


def _call(macro: str, *args: object) -> str:
    return f"select * from {macro}({', '.join(_sql(a) for a in args)})"


def _as_json(sql: str) -> str:
    """``sql`` with each row serialised by the client itself, as one JSON text per row."""
    return f"select to_json(q)::varchar as row_json from ({sql}) as q"


def _normalise(value: object) -> object:
    if isinstance(value, float):
        return float(f"{value:.9g}") if math.isfinite(value) else str(value)
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    return value


def _rows(query: Query, texts: list[str]) -> list:
    rows = [_normalise(json.loads(text)) for text in texts]
    return rows if query.ordered else sorted(rows, key=lambda r: json.dumps(r, sort_keys=True))


def _queries(con: duckdb.DuckDBPyConnection) -> dict[str, Query]:
    """Every view in full, and every table macro called with arguments from the built data."""
    views = [
        row[0]
        for row in con.sql(
            "select view_name from duckdb_views() "
            "where not internal and database_name = current_database() order by view_name"
        ).fetchall()
    ]
    queries = {
        f"view {view}": Query(f'select * from "{view}" order by all', ordered=False)
        for view in views
    }
    # Customers with a buy-again list and an item with the most neighbours, in each tenant.
    repeat_buyers = con.sql(
        "select tenant_id, any_value(customer_id order by customer_id) from buy_again "
        "group by tenant_id order by tenant_id"
    ).fetchall()
    new_item_customers = con.sql(
        "select tenant_id, any_value(customer_id order by customer_id) from new_for_you "
        "group by tenant_id order by tenant_id"
    ).fetchall()
    neighbourly = con.sql(
        "select tenant_id, arg_max(item_id, n) from "
        "(select tenant_id, item_id, count(*) as n from similar_items group by all) "
        "group by tenant_id order by tenant_id"
    ).fetchall()
    calls = [
        _call("recommend", "shop", "adult", 4),
        _call("recommend", "shop", "french", 2),
        _call("recommend", "shop", "minor", 10),
        _call("recommend", "shop", "kitchen_only", 4),
        _call("recommend", "shop", "flagged"),  # k by default
        _call("recommend", "other", "newcomer", 4),
        _call("recommend", "strict", "adult", 4),
        _call("recommend", "strict", "no_personalization", 4),  # list withheld
        _call("recommend", "shop", "erased", 4),
        _call("recommend", "shop", "nobody", 4),  # unknown customer
        _call("buy_again", "shop", "nobody", 4),
        _call("new_for_you", "shop", "nobody", 4),
        _call("similar_items", "shop", "no_such_item", 4),
        _call("recommend_for_items", "shop", ["k1", "w1"], 4),
        _call("recommend_for_items", "strict", ["t1"], 10),
        _call("recommend_for_items", "other", ["k1", "k2", "k3"], 2),
        _call("recommend_for_items", "shop", ["t2"]),
        _call("recommend_for_items", "shop", ["no_such_item"], 3),
        _call("popular", "shop"),
        _call("popular", "shop", "XX", 3),  # a country with no list of its own
        _call("rank_items", "shop", "adult", ["t1", "w1", "k2", "e2", "k1", "g1", "no_such"]),
        _call("rank_items", "shop", "flagged", ["w1", "k1", "w2", "k3"]),
        _call("rank_items", "strict", "adult", ["t1", "t2", "k1", "e1", "e2"]),
        _call("rank_items", "shop", "erased", ["k1", "k2"]),
        _call("rank_items", "shop", "nobody", ["t2", "k4", "w1", "k1"]),  # a visitor
    ]
    for tenant, customer in repeat_buyers:
        calls += [_call("buy_again", tenant, customer, 2), _call("buy_again", tenant, customer)]
        calls += [_call("rank_items", tenant, customer, ["k1", "k2", "e1", "w1", "t2"])]
    for tenant, customer in new_item_customers:
        calls += [_call("new_for_you", tenant, customer, 1), _call("new_for_you", tenant, customer)]
    for tenant, item in neighbourly:
        calls += [_call("similar_items", tenant, item, 3), _call("similar_items", tenant, item)]
    for tenant in ("shop", "other", "strict"):
        calls += [_call("popular", tenant, country, 5) for country in ("FR", "DE", None)]
    queries |= {call: Query(call, ordered=True) for call in calls}
    return queries


def _python_answers(con: duckdb.DuckDBPyConnection, queries: dict[str, Query]) -> Answers:
    rows: dict[str, list | str] = {}
    for name, query in queries.items():
        try:
            texts = [row[0] for row in con.execute(_as_json(query.sql)).fetchall()]
        except duckdb.Error as error:
            rows[name] = f"error: {error}"
        else:
            rows[name] = _rows(query, texts)
    return Answers(duckdb.__version__, rows)


def _cli() -> Path:
    """The DuckDB CLI of the duckdb-cli package, installed next to this Python."""
    found = shutil.which("duckdb", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail(
            f"The DuckDB CLI (PyPI duckdb-cli) is not installed next to {sys.executable}: "
            "run `make test`, or `pip install -e '.[dev]'`."
        )
    return Path(found)


def _cli_answers(db: Path, queries: dict[str, Query]) -> Answers:
    """Run every query in one read-only CLI process; a marker row precedes each query's rows."""
    script = ["select version() as client_version;"]
    for i, query in enumerate(queries.values()):
        script += [f"select {i} as recsql_query;", _as_json(query.sql) + ";"]
    done = subprocess.run(
        [_cli(), "-no-init", "-batch", "-readonly", "-jsonlines", str(db)],
        input="\n".join(script) + "\n",
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    version, texts, current = "", [[] for _ in queries], None
    for line in done.stdout.splitlines():
        if not line.strip():
            continue  # an empty result
        row = json.loads(line)
        if "client_version" in row:
            version = row["client_version"]
        elif "recsql_query" in row:
            current = row["recsql_query"]
        else:
            texts[current].append(row["row_json"])
    # A failing query prints its error on stderr and leaves its rows empty.
    pairs = zip(queries.items(), texts, strict=True)
    rows = {name: _rows(query, found) for (name, query), found in pairs}
    return Answers(version, rows, log=done.stderr)


def _node() -> list[str]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js (`node`) is needed to test the Node client; install Node 20 or later.")
    if not (NODE_CLIENT / "node_modules" / "@duckdb" / "node-api").is_dir():
        pytest.fail(
            f"The Node client's packages are not installed in {NODE_CLIENT}: "
            "run `make test`, or `npm ci --prefix tests/clients/node`."
        )
    return [node, str(NODE_CLIENT / "query.mjs")]


def _node_answers(db: Path, queries: dict[str, Query]) -> Answers:
    """Run every query in one Node process opening the file read-only (query.mjs)."""
    done = subprocess.run(
        [*_node(), str(db)],
        input=json.dumps([_as_json(query.sql) for query in queries.values()]),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"node query.mjs failed:\n{done.stderr}"
    output = json.loads(done.stdout)
    rows: dict[str, list | str] = {}
    for (name, query), result in zip(queries.items(), output["results"], strict=True):
        if "error" in result:
            rows[name] = f"error: {result['error']}"
        else:
            rows[name] = _rows(query, [row["row_json"] for row in result["rows"]])
    return Answers(output["version"], rows, log=done.stderr)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory, build_inputs) -> Path:
    root = tmp_path_factory.mktemp("clients")
    db = root / "recsql.duckdb"
    build_inputs(_inputs(root), db)
    return db


@pytest.fixture(scope="module")
def python_connection(published: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only Python connection, held open while the other clients read the file."""
    con = duckdb.connect(str(published), read_only=True)
    yield con
    con.close()


@pytest.fixture(scope="module")
def queries(python_connection: duckdb.DuckDBPyConnection) -> dict[str, Query]:
    return _queries(python_connection)


@pytest.fixture(scope="module")
def expected(python_connection: duckdb.DuckDBPyConnection, queries: dict[str, Query]) -> Answers:
    answers = _python_answers(python_connection, queries)
    errors = {name: rows for name, rows in answers.rows.items() if isinstance(rows, str)}
    assert not errors, f"queries that fail in Python duckdb itself: {errors}"
    return answers


# The clients run while python_connection has the file open.
@pytest.fixture(scope="module")
def cli(published: Path, python_connection, queries: dict[str, Query]) -> Answers:
    return _cli_answers(published, queries)


@pytest.fixture(scope="module")
def node(published: Path, python_connection, queries: dict[str, Query]) -> Answers:
    return _node_answers(published, queries)


def _differences(expected: Answers, got: Answers) -> str:
    lines = []
    for name, rows in expected.rows.items():
        if got.rows[name] != rows:
            lines += [f"- {name}", f"    expected: {rows}", f"    got:      {got.rows[name]}"]
    if lines and got.log:
        lines += ["client's messages:", got.log]
    return "\n".join(lines)


def test_every_serving_macro_is_called(
    python_connection: duckdb.DuckDBPyConnection, queries: dict[str, Query]
) -> None:
    """The comparisons below cover each table macro of the file (a new one needs calls here)."""
    macros = {
        row[0]
        for row in python_connection.sql(
            "select function_name from duckdb_functions() "
            "where function_type = 'table_macro' and database_name = current_database()"
        ).fetchall()
    }
    called = {q.sql.removeprefix("select * from ").split("(")[0] for q in queries.values()}
    assert macros <= called
    assert macros >= {
        "recommend",
        "buy_again",
        "new_for_you",
        "similar_items",
        "recommend_for_items",
        "popular",
        "rank_items",
    }


def test_cli_is_an_older_client(cli: Answers, expected: Answers) -> None:
    """The CLI under test is 1.5, older than the Python duckdb that wrote the file."""
    assert cli.version.startswith(CLIENT_VERSION), cli.log
    assert not expected.version.startswith(CLIENT_VERSION.removeprefix("v"))


def test_node_is_an_older_client(node: Answers) -> None:
    """The Node client under test (@duckdb/node-api) is 1.5."""
    assert node.version.startswith(CLIENT_VERSION)


def test_cli_gives_the_answers_of_python(cli: Answers, expected: Answers) -> None:
    """Every view and every macro call gives the same rows in the DuckDB CLI as in Python."""
    assert cli.rows == expected.rows, _differences(expected, cli)
    assert not cli.log, cli.log


def test_node_gives_the_answers_of_python(node: Answers, expected: Answers) -> None:
    """Every view and every macro call gives the same rows in Node as in Python."""
    assert node.rows == expected.rows, _differences(expected, node)


def test_clients_read_while_python_has_the_file_open(published: Path) -> None:
    """A CLI and a Node process open the file read-only while Python holds it open read-only."""
    con = duckdb.connect(str(published), read_only=True)
    try:
        count = Query("select count(*) as n from items", ordered=True)
        queries = {"items": count}
        [[python_count]] = con.execute(count.sql).fetchall()
        assert python_count > 0
        for answers in (_cli_answers(published, queries), _node_answers(published, queries)):
            assert answers.rows == {"items": [{"n": python_count}]}, answers.log
        # And Python still reads after them.
        assert con.execute(count.sql).fetchall() == [(python_count,)]
    finally:
        con.close()
