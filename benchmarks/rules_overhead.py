"""What business rules add to the build time of the demo data (target: at most 20 %).

Usage: ``.venv/bin/python benchmarks/rules_overhead.py [--repeats 3] [--baseline REV]``

Three builds of the bundled demo data, each ``recsql build`` in a fresh process
(``python -m recsql.cli build``, timed from outside alike), interleaved ``--repeats`` times so
that drift on a shared machine hits them alike:

- **before rules**: the project at ``--baseline`` (default: the last commit before business
  rules existed), exported with ``git archive`` into a temporary directory and run with this
  virtualenv — the engine with no rule machinery at all;
- **rules, no rule inputs**: this checkout, the demo without its rules, restrictions and flags
  (the built-in rules still run: erasure, consents, geo, age, inactive items...);
- **rules, demo rules**: this checkout with the demo's illustrative rules.

The overhead is the median, over repeats, of (demo rules / before rules) - 1 in wall time,
the target's measure; the same ratio in CPU time (user + system of the build and its workers),
which other work on a shared machine disturbs much less, is reported next to it. Also
reported: the node time, in the demo-rules build, of what exists for the rules (the rules and
lists stages, the compliance tests and the models of other stages listed in RULE_MODELS), and
the 1-minute load average before each build. Writes docs/benchmarks/rules_overhead.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _common import DEMO, DOCS, ROOT, child_cpu, command_line, machine, node_paths, now, table

#: The last commit before business rules ("No algorithm candidates without a reason; ...").
BASELINE = "b5bbef7"
TARGET = 0.20
RULE_INPUTS = ("rules.csv", "item_restrictions.csv", "customer_flags.csv")
#: What exists for the rules: every node (models, their data and unit tests) of the rules and
#: lists stages and the compliance tests, and these models of other stages.
RULE_PATHS = ("models/rules/", "models/lists/", "tests/dbt/compliance/")
RULE_MODELS = (
    "customer_profiles", "visitor_profiles", "int_interactions_retained", "erased_customers",
    "visitor_popular_items",
)  # fmt: skip


@dataclass(frozen=True)
class Build:
    seconds: float  # wall time of the process
    cpu_seconds: float  # user + system time of the process and its workers
    dbt_seconds: float  # dbt's elapsed time (run_results.json)
    load: float  # the 1-minute load average before it


def build_at(project: Path, data: Path, db: Path) -> Build:
    """``recsql build`` with the project (and the recsql package) in ``project``."""
    env = dict(os.environ, PYTHONPATH=str(project))
    load = os.getloadavg()[0]
    started = time.perf_counter()
    with child_cpu() as cpu:
        done = subprocess.run(
            [sys.executable, "-m", "recsql.cli", "build", "--data", str(data), "--db", str(db)],
            cwd=project, env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"build in {project} failed:\n{done.stdout}\n{done.stderr}")
    results = json.loads((Path(f"{db}.build") / "target" / "run_results.json").read_text())
    return Build(seconds, cpu.seconds, float(results["elapsed_time"]), load)


def rule_node_seconds(db: Path) -> tuple[float, float]:
    """Node time of what exists for the rules (RULE_PATHS, RULE_MODELS) and of all nodes."""
    target = Path(f"{db}.build") / "target"
    paths = node_paths(target)
    nodes = json.loads((target / "run_results.json").read_text())["results"]
    rules = sum(
        n["execution_time"] for n in nodes
        if paths.get(n["unique_id"], "").startswith(RULE_PATHS)
        or n["unique_id"] in {f"model.recsql.{name}" for name in RULE_MODELS}
    )  # fmt: skip
    return rules, sum(n["execution_time"] for n in nodes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline", default=BASELINE, help="the commit before rules")
    parser.add_argument("--out", type=Path, default=DOCS / "rules_overhead.md")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="recsql-rules-"))
    try:
        baseline = work / "baseline"
        baseline.mkdir()
        archive = subprocess.run(
            ["git", "archive", args.baseline], cwd=ROOT, check=True, capture_output=True
        )
        subprocess.run(["tar", "-x", "-C", str(baseline)], input=archive.stdout, check=True)
        no_rules = work / "demo-without-rules"
        shutil.copytree(DEMO, no_rules, ignore=shutil.ignore_patterns(*RULE_INPUTS))
        variants = {
            "before rules": (baseline, baseline / "data" / "demo"),
            "rules, no rule inputs": (ROOT, no_rules),
            "rules, demo rules": (ROOT, DEMO),
        }
        builds: dict[str, list[Build]] = {name: [] for name in variants}
        for repeat in range(args.repeats):
            print(f"repeat {repeat + 1}/{args.repeats}", flush=True)
            for i, (name, (project, data)) in enumerate(variants.items()):
                builds[name].append(build_at(project, data, work / f"build-{i}.duckdb"))
        rule_seconds, node_seconds = rule_node_seconds(work / "build-2.duckdb")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report = render(args, builds, rule_seconds, node_seconds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(report)


def overhead(builds: dict[str, list[Build]], measure: str) -> float:
    """The median over repeats of (demo rules / before rules) - 1, in ``measure``."""
    pairs = zip(builds["rules, demo rules"], builds["before rules"], strict=True)
    return statistics.median(getattr(r, measure) / getattr(b, measure) for r, b in pairs) - 1


def render(
    args: argparse.Namespace,
    builds: dict[str, list[Build]],
    rule_seconds: float,
    node_seconds: float,
) -> str:
    loads = [b.load for runs in builds.values() for b in runs]
    wall, cpu = overhead(builds, "seconds"), overhead(builds, "cpu_seconds")
    lines = [
        "# Benchmark: what business rules add to the demo build",
        "",
        f"Command: `{command_line()}`  ",
        f"Date: {now()}  ",
        f"Baseline: commit `{args.baseline}` (the engine before business rules), exported with "
        "`git archive`, run with the same virtualenv  ",
        f"Machine: {machine()}",
        "",
        "Builds of the bundled demo data (536,395 interactions), each `recsql build` in a fresh "
        "process, interleaved; wall time includes starting Python and importing dbt; CPU time "
        "is user + system of the build and its workers. The 1-minute load average before "
        f"the builds was {min(loads):.1f} to {max(loads):.1f} (median "
        f"{statistics.median(loads):.1f}; on 2 cores, above 2 the builds competed for the CPU "
        "with other work, which stretches wall times far more than CPU times).",
        "",
        table(
            ["build", "median wall s", "median CPU s", "median dbt s", "runs (wall s)",
             "runs (CPU s)", "load before"],
            [
                [name, statistics.median(b.seconds for b in runs),
                 statistics.median(b.cpu_seconds for b in runs),
                 statistics.median(b.dbt_seconds for b in runs),
                 ", ".join(f"{b.seconds:.1f}" for b in runs),
                 ", ".join(f"{b.cpu_seconds:.1f}" for b in runs),
                 ", ".join(f"{b.load:.1f}" for b in runs)]
                for name, runs in builds.items()
            ],
            "lrrrlll",
        ),
        "",
        table(
            ["target", "measured", "threshold", "result"],
            [
                ["rules add to the demo build time (median of paired wall-time ratios)",
                 f"{wall:+.1%}", f"<= +{TARGET:.0%}", "PASS" if wall <= TARGET else "FAIL"],
                ["the same in CPU time (for comparison, not the target)",
                 f"{cpu:+.1%}", f"(<= +{TARGET:.0%})", "PASS" if cpu <= TARGET else "FAIL"],
            ],
            "lrrl",
        ),
        "",
        "The baseline is the whole project as it was before rules: what changed in the rest "
        "of the build since then counts in the ratio too (it can be negative). What the rules "
        "themselves cost is the node time below.",
        "",
        "In the demo-rules build, what exists for the rules (every node of the rules and "
        "lists stages and the compliance tests, and " + ", ".join(RULE_MODELS) + ") took "
        f"{rule_seconds:.1f} s of {node_seconds:.1f} s of node time "
        f"({rule_seconds / node_seconds:.0%}).",
        "",
    ]  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    main()
