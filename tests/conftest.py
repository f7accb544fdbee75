from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from recsql.build import BuildResult, build

REPO = Path(__file__).resolve().parent.parent
#: A fixed build time, so "in the future" and time decay do not depend on the day tests run.
AS_OF = "2026-01-01 00:00:00"
#: Every object that serves a tenant's lists (views and the tables the macros read).
SERVING = (
    "recommendations",
    "buy_again",
    "new_for_you",
    "similar_items",
    "popular_items",
    "trending_items",
    "recsql_data.visitor_popular_items",
    "recsql_data.item_factors",
)


def write_inputs(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory


@pytest.fixture(scope="session")
def build_inputs() -> Callable[..., BuildResult]:
    """Build a directory of inputs into ``db`` (in this process) and return the result."""

    def run(data_dir: Path, db: Path, **kwargs) -> BuildResult:
        kwargs.setdefault("as_of", AS_OF)
        kwargs.setdefault("keep_build_db", True)  # the tests look into it
        return build(data_dir, db, **kwargs)

    return run


def query(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def run_recsql(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the recsql command in a new process, as a user would (``env``: variables to add)."""
    return subprocess.run(
        [sys.executable, "-m", "recsql.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **env} if env else None,
        check=False,
    )


def copy_project(target: Path) -> Path:
    """A copy of the dbt project in ``target``, for a test that plants a defect in it (and
    points ``recsql.build.runner.project_dir`` at it)."""
    for part in ("models", "macros", "seeds", "tests/dbt"):
        shutil.copytree(REPO / part, target / part)
    for part in ("dbt_project.yml", "profiles.yml"):
        shutil.copy(REPO / part, target / part)
    return target
