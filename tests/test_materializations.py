"""The project's `table` and `view` materializations (macros/materializations.sql) replace a
model's relation with one statement in one transaction: run again on the same database, dbt
replaces every relation, a model that fails leaves the one it would have replaced as it was,
and a model that changes from a view to a table (or back) replaces it.

A small dbt project of its own, with the recsql project's materializations only, built with
the dbt that recsql installs, in a fresh process each time (as a user runs dbt)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, query

pytestmark = pytest.mark.slow

MODELS = {
    # a table; a column that fails at run time when the var fail is set
    "numbers.sql": (
        "select {{ var('x') }} as x"
        "{% if var('fail', false) %}, error('a planted failure') as broken{% endif %}\n"
    ),
    # a view over it
    "tens.sql": "{{ config(materialized='view') }}\nselect x * 10 as y from {{ ref('numbers') }}\n",
    # a Python model's table
    "copied.py": (
        "def model(dbt, session):\n"
        "    dbt.config(materialized='table')\n"
        "    return dbt.ref('numbers').to_arrow_table()\n"
    ),
    # a view or a table, as the var says
    "switching.sql": "{{ config(materialized=var('switching', 'view')) }}\nselect 1 as s\n",
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "macros").mkdir(parents=True)
    shutil.copy(REPO / "macros" / "materializations.sql", root / "macros")
    (root / "models").mkdir()
    for name, text in MODELS.items():
        (root / "models" / name).write_text(text)
    (root / "dbt_project.yml").write_text(
        "name: materializations\nversion: '1.0'\nconfig-version: 2\nprofile: materializations\n"
        "models:\n  materializations:\n    +materialized: table\n"
        "flags:\n  send_anonymous_usage_stats: false\n  version_check: false\n"
    )
    (root / "profiles.yml").write_text(
        "materializations:\n  target: local\n  outputs:\n    local:\n      type: duckdb\n"
        f"      path: '{tmp_path / 'build.duckdb'}'\n      threads: 1\n"
    )
    return root


def _dbt(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from dbt.cli.main import cli; sys.exit(cli())",
            *args,
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(project),
        ],
        capture_output=True,
        text=True,
        cwd=project,
        check=False,
    )


def _relations(db: Path) -> dict[str, str]:
    return dict(
        query(db, "select table_name, table_type from information_schema.tables order by 1")
    )


def test_a_rebuild_replaces_each_relation_in_one_statement_and_a_failure_keeps_it(
    project: Path, tmp_path: Path
) -> None:
    db = tmp_path / "build.duckdb"
    # every relation but `switching`, which is a view or a table as the var says
    others = {"copied": "BASE TABLE", "numbers": "BASE TABLE", "tens": "VIEW"}
    first = _dbt(project, "run", "--vars", "{x: 1}")
    assert first.returncode == 0, first.stdout
    assert _relations(db) == {**others, "switching": "VIEW"}

    # again on the same database: every relation replaced, a view by a table
    second = _dbt(project, "run", "--vars", "{x: 2, switching: table}")
    assert second.returncode == 0, second.stdout
    assert _relations(db) == {**others, "switching": "BASE TABLE"}
    assert query(db, "select x from numbers") == [(2,)]
    assert query(db, "select y from tens") == [(20,)]
    assert query(db, "select x from copied") == [(2,)]
    # one statement: no relation under a temporary or backup name, ever
    executed = project / "target" / "run" / "materializations" / "models" / "numbers.sql"
    statement = executed.read_text()
    assert "drop table if exists" in statement and "create" in statement
    assert "__dbt" not in statement

    # a model that fails leaves the table it would have replaced as it was
    failed = _dbt(project, "run", "--select", "numbers", "--vars", "{x: 3, fail: true}")
    assert failed.returncode == 1
    assert "a planted failure" in failed.stdout
    assert query(db, "select x from numbers") == [(2,)]
    # and back from a table to a view
    third = _dbt(project, "run", "--select", "switching")
    assert third.returncode == 0, third.stdout
    assert _relations(db)["switching"] == "VIEW"
