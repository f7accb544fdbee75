"""The recsql command, run in a new process as a user runs it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import recsql
from recsql.cli import query_command
from recsql.datasets.online_retail import DEFAULT_SOURCE
from recsql.lifecycle import state
from tests.conftest import AS_OF, REPO, query, run_recsql, write_inputs

SMALL = {
    "interactions.csv": "customer_id,item_id,occurred_at,event_type\n"
    "c1,i1,2025-01-01,purchase\nc2,i2,2025-01-02,purchase\nc2,i1,2025-01-03,view\n"
    "c3,i9,2025-01-03,purchase\n",
    "items.csv": "item_id,name\ni1,One\ni2,Two\ni3,Three\n",
}


@pytest.mark.parametrize(
    ("command", "words"),
    [
        ([], ["build", "demo", "generate", "convert-online-retail"]),
        (["build"], ["--data", "--db", "--as-of", "--encoding"]),
        (["demo"], ["--db"]),
        (
            ["generate"],
            [
                "--tenants",
                "--customers",
                "--items",
                "--interactions",
                "--seed",
                "--bad-share",
                "--out",
            ],
        ),
        (["convert-online-retail"], ["--source", "--out"]),
    ],
)
def test_every_command_has_help(command: list[str], words: list[str]) -> None:
    result = run_recsql(*command, "--help")
    assert result.returncode == 0
    for word in words:
        assert word in result.stdout


def test_version_is_the_one_pyproject_declares() -> None:
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    result = run_recsql("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"recsql {declared}\n"
    assert recsql.__version__ == declared


@pytest.fixture(scope="module")
def built_small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """``recsql build`` of SMALL run as a user runs it, in a directory of their own with
    relative paths: that directory, the database and what the build printed."""
    cwd = tmp_path_factory.mktemp("user")
    write_inputs(cwd / "in", SMALL)
    result = run_recsql(
        "build", "--data", "in", "--db", "out/recsql.duckdb", "--as-of", AS_OF, cwd=cwd
    )
    assert result.returncode == 0, result.stderr
    return cwd, cwd / "out" / "recsql.duckdb", result.stdout


def _item_ids_shown(output: str) -> list[str]:
    """The item ids in a table the DuckDB CLI or ``.show()`` printed, top to bottom."""
    return re.findall(r"\bi\d+\b", output)


@pytest.mark.slow
def test_build_prints_the_accounting_and_an_example_query(
    built_small: tuple[Path, Path, str],
) -> None:
    _, db, out = built_small
    assert "publication" in out  # progress, one line per model
    assert f"Built {db}" in out
    counts = dict(re.findall(r"^  (\w+) +([\d,]+ +[\d,]+ +[\d,]+)$", out, re.M))
    assert counts["interactions"].split() == ["4", "3", "1"]  # read, accepted, quarantined
    assert counts["items"].split() == ["3", "3", "0"]
    assert "item not in items" in out
    assert "-readonly out/recsql.duckdb" in out and "recommend('default', 'c1', 10)" in out
    assert query(db, "select count(*) from quarantined_rows") == [(1,)]


@pytest.mark.slow
def test_a_build_leaves_its_run_results_and_report_but_not_its_scratch_database(
    built_small: tuple[Path, Path, str],
) -> None:
    _, db, _ = built_small
    work = db.with_name("recsql.duckdb.build")
    results = json.loads((work / "target" / "run_results.json").read_text())["results"]
    statuses = {r["unique_id"].split(".")[-1]: r["status"] for r in results}
    assert statuses["publication"] == "success" and len(statuses) > 100
    assert json.loads((work / "report.json").read_text())["tenants"]
    # the scratch database, and dbt's manifest, only with --keep-build-db
    assert not (work / "build.duckdb").exists()
    assert not (work / "target" / "manifest.json").exists()


@pytest.mark.slow
def test_the_printed_example_query_runs_as_printed(built_small: tuple[Path, Path, str]) -> None:
    cwd, db, out = built_small
    lines = out.splitlines()
    command = lines[lines.index("Query it from any DuckDB client (1.4 or later), for example:") + 1]
    ran = subprocess.run(command, shell=True, cwd=cwd, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    expected = query(db, "select item_id from recommend('default', 'c1', 10) order by rank")
    assert expected  # c1 has a list: the check below sees rows
    assert _item_ids_shown(ran.stdout) == [item for (item,) in expected]


@pytest.mark.slow
@pytest.mark.parametrize("client", ["beside the interpreter", "on PATH", "none"])
def test_the_query_command_names_a_client_that_is_there(
    built_small: tuple[Path, Path, str], tmp_path: Path, client: str
) -> None:
    cwd, db, _ = built_small
    # A database path and a query that need quoting: a space, and $, ", ` and \\ in a literal.
    spaced = cwd / "a copy" / "rec sql.duckdb"
    spaced.parent.mkdir(exist_ok=True)
    shutil.copyfile(db, spaced)
    sql = "select * from recommend('default', 'c1', 10) where reason <> '$HOME \"`x`\\'"
    venv_bin = Path(sys.executable).parent  # where the dev extras put the DuckDB CLI
    assert shutil.which("duckdb", path=str(venv_bin)), "the dev extras install duckdb-cli"
    no_cli = tmp_path / "bin"
    no_cli.mkdir()
    python = no_cli / "python"  # a Python with duckdb, and no DuckDB CLI beside it
    python.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    python.chmod(0o755)
    interpreter, search_path, first_word = {
        "beside the interpreter": (Path(sys.executable), "", str(venv_bin / "duckdb")),
        "on PATH": (python, str(venv_bin), "duckdb"),
        "none": (python, "", str(python)),
    }[client]
    command = query_command(
        spaced.relative_to(cwd), sql, interpreter=interpreter, search_path=search_path, cwd=cwd
    )
    assert command.split()[0] == first_word
    env = {**os.environ, "PATH": os.pathsep.join(filter(None, [search_path, "/usr/bin:/bin"]))}
    ran = subprocess.run(command, shell=True, cwd=cwd, env=env, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    expected = query(db, "select item_id from recommend('default', 'c1', 10) order by rank")
    assert expected and _item_ids_shown(ran.stdout) == [item for (item,) in expected]


@pytest.mark.parametrize(
    ("files", "words"),
    [
        (
            {"interactions.csv": "customer_id,occurred_at\nc1,2025-01-01\n"},
            ["interactions.csv", "'item_id'"],
        ),
        ({"items.csv": None}, ["items.parquet", "required"]),
    ],
)
def test_a_contract_error_stops_the_build_with_a_clear_message(
    tmp_path: Path, files: dict[str, str | None], words: list[str]
) -> None:
    data = write_inputs(tmp_path / "in", SMALL)
    for name, text in files.items():
        if text is None:
            (data / name).unlink()
        else:
            (data / name).write_text(text)
    db = tmp_path / "recsql.duckdb"
    result = run_recsql("build", "--data", str(data), "--db", str(db))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr
    assert not db.exists()


@pytest.mark.slow
def test_a_rule_of_every_tenant_rejected_is_an_input_error_and_keeps_the_served_file(
    tmp_path: Path,
) -> None:
    """A rule of every tenant that cannot run is a contract error, like an unknown column:
    exit 2, nothing published (a build that fails otherwise exits 1: below)."""
    data = write_inputs(
        tmp_path / "in",
        # a rule of every tenant: a tenant's own rejected rule fails only that tenant (exit 3,
        # tests/test_tenant_failures.py)
        {**SMALL, "rules.csv": "tenant_id,rule_id,action,reason\n*,r1,exclud,a typo\n"},
    )
    db = tmp_path / "recsql.duckdb"
    db.write_bytes(b"served")
    result = run_recsql("build", "--data", str(data), "--db", str(db))
    assert result.returncode == 2
    assert "input error" in result.stderr
    assert "unknown action" in result.stderr and "not changed" in result.stderr
    assert db.read_bytes() == b"served"


@pytest.mark.slow
def test_a_header_only_interactions_file_fails_the_build_and_publishes_nothing(
    tmp_path: Path,
) -> None:
    """An empty recommender must not be published with exit 0."""
    data = write_inputs(
        tmp_path / "in", {**SMALL, "interactions.csv": "customer_id,item_id,occurred_at\n"}
    )
    db = tmp_path / "recsql.duckdb"
    db.write_bytes(b"served")
    result = run_recsql("build", "--data", str(data), "--db", str(db), "--as-of", AS_OF)
    assert result.returncode == 1
    assert "Built" not in result.stdout and "Traceback" not in result.stderr
    failing = [line.strip() for line in result.stderr.splitlines() if line.startswith("    ")]
    assert failing == [
        "tenant default: 0 of 0 interactions accepted: the interactions input has no rows"
    ]
    assert "nothing was published" in result.stderr
    assert db.read_bytes() == b"served"


@pytest.mark.parametrize("damage", ["corrupt", "newer"])
def test_a_corrupt_or_newer_state_file_stops_the_build_and_changes_nothing(
    tmp_path: Path, damage: str
) -> None:
    """A state file the build cannot trust - not a database, or written by a newer recsql -
    stops it before dbt with a clear message naming the file (exit 2), and neither the served
    file nor the state file changes."""
    data = write_inputs(tmp_path / "in", SMALL)
    db = tmp_path / "recsql.duckdb"
    db.write_bytes(b"served")
    path = state.default_path(db)
    if damage == "corrupt":
        path.write_bytes(b"not a database " * 1000)
    else:
        with state.connect(path) as con:
            con.execute("update state_info set value = '99' where key = 'schema_version'")
    before = path.read_bytes()
    result = run_recsql("build", "--data", str(data), "--db", str(db), "--as-of", AS_OF)
    assert result.returncode == 2, result.stderr
    assert "state error" in result.stderr and str(path) in result.stderr
    expected = "Restore it from a backup" if damage == "corrupt" else "newer recsql"
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert db.read_bytes() == b"served"
    assert path.read_bytes() == before


def test_generate_writes_the_inputs(tmp_path: Path) -> None:
    out = tmp_path / "gen"
    result = run_recsql(
        "generate",
        "--tenants",
        "2",
        "--customers",
        "20",
        "--items",
        "10",
        "--interactions",
        "100",
        "--seed",
        "3",
        "--bad-share",
        "0.1",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    assert (out / "interactions.parquet").is_file() and (out / "items.parquet").is_file()
    assert "bad rows planted" in result.stdout


def test_generate_rejects_a_bad_share(tmp_path: Path) -> None:
    result = run_recsql("generate", "--bad-share", "1.5", "--out", str(tmp_path))
    assert result.returncode == 2 and "bad-share" in result.stderr


def test_convert_online_retail(tmp_path: Path) -> None:
    sample = tmp_path / "sample.parquet"
    pq.write_table(pq.read_table(DEFAULT_SOURCE).slice(0, 2_000), sample)
    result = run_recsql(
        "convert-online-retail", "--source", str(sample), "--out", str(tmp_path / "out")
    )
    assert result.returncode == 0, result.stderr
    assert "2,000 source lines read" in result.stdout
    for table in ("interactions", "items", "customers"):
        assert (tmp_path / "out" / f"{table}.parquet").is_file()
