"""The build: input files checked against the contract and read (:mod:`~recsql.build.inputs`),
``dbt build`` run in-process (:mod:`~recsql.build.runner`, with the dbt-duckdb plugin of
:mod:`~recsql.build.dbt_plugin`), and the served database published atomically
(:mod:`~recsql.build.publish`). docs/architecture.md shows the stages in between.
"""

from __future__ import annotations

from recsql.build.runner import (
    BuildFailed,
    BuildResult,
    InputRefused,
    ProjectNotFound,
    TableCounts,
    build,
    project_dir,
    work_dir_for,
)

__all__ = [
    "BuildFailed",
    "BuildResult",
    "InputRefused",
    "ProjectNotFound",
    "TableCounts",
    "build",
    "project_dir",
    "work_dir_for",
]
