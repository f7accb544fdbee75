"""Where a demo build's CPU goes: the SQL statements, the Python models, and the rest (issue 14).

Usage: ``.venv/bin/python benchmarks/build_cpu.py [--work-dir DIR]``

One ``recsql build`` of the bundled demo data in this process, dbt on one thread (so nothing
else of the build runs beside what is measured), with the process's CPU time (user + system,
every thread: DuckDB's too) summed around each SQL statement dbt executes and around each
Python model (its own DuckDB queries included), and the rest: dbt's work around the nodes,
the imports, the parse, the state and the publish's bookkeeping. The build's data work is the
first two: the time no runner can save. Prints the split; writes nothing.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from _common import DEMO, work_directory

from recsql.build import runner, scheduling


def cpu() -> float:
    times = os.times()
    return times.user + times.system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-dir", type=Path, help="keep the build here (must not exist)")
    args = parser.parse_args()
    spent = {"sql": 0.0, "python": 0.0}
    counts = {"sql": 0, "python": 0}
    inside_python = [0]
    run_dbt = runner._run_dbt

    def measured_run_dbt(*arguments, **keywords):  # dbt is imported by the build: patch then
        from dbt.adapters.duckdb.environments import local
        from dbt.adapters.duckdb.impl import DuckDBAdapter

        execute = local.DuckDBCursorWrapper.execute
        submit = DuckDBAdapter.submit_python_job

        def timed_execute(self, *a, **k):
            if inside_python[0]:  # a Python model's own query: counted with the model
                return execute(self, *a, **k)
            started = cpu()
            try:
                return execute(self, *a, **k)
            finally:
                spent["sql"] += cpu() - started
                counts["sql"] += 1

        def timed_submit(self, *a, **k):
            started = cpu()
            inside_python[0] += 1
            try:
                return submit(self, *a, **k)
            finally:
                inside_python[0] -= 1
                spent["python"] += cpu() - started
                counts["python"] += 1

        local.DuckDBCursorWrapper.execute = timed_execute
        DuckDBAdapter.submit_python_job = timed_submit
        try:
            return run_dbt(*arguments, **keywords)
        finally:
            local.DuckDBCursorWrapper.execute = execute
            DuckDBAdapter.submit_python_job = submit

    runner._run_dbt = measured_run_dbt
    scheduling.THREADS = 1
    with work_directory(args.work_dir, "recsql-build-cpu-") as work:
        started, wall = cpu(), time.perf_counter()
        runner.build(DEMO, work / "recsql.duckdb", as_of="2011-12-10 00:00:00")
        total, wall = cpu() - started, time.perf_counter() - wall
    rest = total - spent["sql"] - spent["python"]
    print(f"demo build, dbt on one thread: {wall:.1f} s wall, {total:.1f} CPU s")
    print(f"  SQL statements:  {spent['sql']:5.1f} CPU s ({counts['sql']} statements)")
    print(f"  Python models:   {spent['python']:5.1f} CPU s ({counts['python']} models)")
    print(f"  the rest:        {rest:5.1f} CPU s (dbt around the nodes, imports, parse, state)")
    data = spent["sql"] + spent["python"]
    print(
        f"  data work {data:.1f} CPU s: at least {data / (os.cpu_count() or 1):.1f} s on ", end=""
    )
    print(f"{os.cpu_count()} cores with no framework at all")


if __name__ == "__main__":
    main()
