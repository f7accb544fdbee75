"""recsql build reuses dbt's parse of the project only for the very same project files
(recsql/build/runner.py: dbt's partial parsing of a changed project can miss a change)."""

from __future__ import annotations

from pathlib import Path

import pytest

from recsql.build.runner import parse_cache_for


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = tmp_path / "project"
    (root / "models" / "staging").mkdir(parents=True)
    (root / "tests" / "dbt").mkdir(parents=True)
    (root / "dbt_project.yml").write_text("name: x\n")
    (root / "models" / "staging" / "a.sql").write_text("select 1 as a\n")
    (root / "tests" / "dbt" / "_tests.yml").write_text("data_tests: []\n")
    (root / "README.md").write_text("not parsed by dbt\n")
    return root


def test_a_parse_is_reused_only_for_the_same_project_files(project: Path, tmp_path: Path) -> None:
    first = parse_cache_for(project)
    assert first.parent == tmp_path / "cache" / "recsql"
    assert parse_cache_for(project) == first
    # what dbt does not parse does not matter
    (project / "README.md").write_text("changed\n")
    assert parse_cache_for(project) == first
    # a changed model, a test's yml, a new file: another parse
    seen = {first}
    changes = [
        lambda: (project / "models" / "staging" / "a.sql").write_text("select 2 as a\n"),
        lambda: (project / "tests" / "dbt" / "_tests.yml").write_text("data_tests: [{name: t}]\n"),
        lambda: (project / "models" / "b.sql").write_text("select 1 as b\n"),
        lambda: (project / "dbt_project.yml").write_text("name: y\n"),
    ]
    for change in changes:
        change()
        key = parse_cache_for(project)
        assert key not in seen
        seen.add(key)
    # the same files in another checkout are another project
    moved = tmp_path / "elsewhere"
    project.rename(moved)
    assert parse_cache_for(moved) not in seen
