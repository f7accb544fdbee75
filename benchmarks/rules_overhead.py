"""What business rules add to the build time of the demo data (target: at most 20 %).

Usage: ``.venv/bin/python benchmarks/rules_overhead.py [--repeats 3] [--baseline REV]``

Three builds of the bundled demo data, each in a fresh process, interleaved ``--repeats``
times so that drift on a shared machine hits them alike:

- **before rules**: the project at ``--baseline`` (default: the last commit before business
  rules existed), checked out in a temporary git worktree and run with this virtualenv — the
  engine with no rule machinery at all;
- **rules, no rule inputs**: this checkout, the demo without its rules, restrictions and flags
  (the built-in rules still run: erasure, consents, geo, age, inactive items...);
- **rules, demo rules**: this checkout with the demo's illustrative rules.

The overhead is the median, over repeats, of (demo rules / before rules) - 1. Also reported:
the node time, in the demo-rules build, of what exists for the rules (the rules and lists
stages, the compliance tests and the models of other stages listed in RULE_MODELS), and the
1-minute load average before each build (the machine may be shared). Writes
docs/benchmarks/rules_overhead.md.
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import DOCS, ROOT, command_line, machine, now, table, timed_build

DEMO = ROOT / "data" / "demo"
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


def build_at(worktree: Path, data: Path, db: Path) -> tuple[float, float]:
    """Build with the project (and the recsql package) of ``worktree``: wall and dbt seconds."""
    env = dict(os.environ, PYTHONPATH=str(worktree))
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "recsql.cli", "build", "--data", str(data), "--db", str(db)],
        cwd=worktree, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"baseline build failed:\n{done.stdout}\n{done.stderr}")
    results = json.loads((Path(f"{db}.build") / "target" / "run_results.json").read_text())
    return seconds, float(results["elapsed_time"])


def rule_node_seconds(db: Path) -> tuple[float, float]:
    """Node time of what exists for the rules (RULE_PATHS, RULE_MODELS) and of all nodes."""
    target = Path(f"{db}.build") / "target"
    manifest = json.loads((target / "manifest.json").read_text())
    paths = {
        unique_id: node["original_file_path"]
        for kind in ("nodes", "unit_tests")
        for unique_id, node in manifest[kind].items()
    }
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
    worktree = work / "baseline"
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(worktree), args.baseline],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    no_rules = work / "demo-without-rules"
    shutil.copytree(DEMO, no_rules, ignore=shutil.ignore_patterns(*RULE_INPUTS))
    times: dict[str, list[float]] = {"before rules": [], "rules, no rule inputs": [],
                                     "rules, demo rules": []}  # fmt: skip
    dbt_times: dict[str, list[float]] = {k: [] for k in times}
    loads: list[float] = []
    try:
        for repeat in range(args.repeats):
            print(f"repeat {repeat + 1}/{args.repeats}", flush=True)
            loads.append(os.getloadavg()[0])
            seconds, dbt = build_at(worktree, worktree / "data" / "demo", work / "before.duckdb")
            times["before rules"].append(seconds)
            dbt_times["before rules"].append(dbt)
            loads.append(os.getloadavg()[0])
            build = timed_build(no_rules, work / "no-rules.duckdb")
            times["rules, no rule inputs"].append(build.seconds)
            dbt_times["rules, no rule inputs"].append(build.dbt_seconds)
            loads.append(os.getloadavg()[0])
            build = timed_build(DEMO, work / "demo.duckdb")
            times["rules, demo rules"].append(build.seconds)
            dbt_times["rules, demo rules"].append(build.dbt_seconds)
        rule_seconds, node_seconds = rule_node_seconds(work / "demo.duckdb")
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=ROOT,
                       check=False, capture_output=True)  # fmt: skip

    ratios = [r / b for r, b in zip(times["rules, demo rules"], times["before rules"],
                                    strict=True)]  # fmt: skip
    overhead = statistics.median(ratios) - 1
    lines = [
        "# Benchmark: what business rules add to the demo build",
        "",
        f"Command: `{command_line()}`  ",
        f"Date: {now()}  ",
        f"Baseline: commit `{args.baseline}` (the engine before business rules), in a git "
        "worktree, run with the same virtualenv  ",
        f"Machine: {machine()}",
        "",
        "Builds of the bundled demo data (536,395 interactions), each in a fresh process, "
        "interleaved; wall time includes importing dbt. The 1-minute load average before "
        f"the builds was {min(loads):.1f} to {max(loads):.1f} (median "
        f"{statistics.median(loads):.1f}; on 2 cores, above 2 the builds competed for the CPU "
        "with other work).",
        "",
        table(
            ["build", "median wall s", "median dbt s", "runs (wall s)"],
            [
                [
                    name,
                    statistics.median(t),
                    statistics.median(dbt_times[name]),
                    ", ".join(f"{x:.1f}" for x in t),
                ]
                for name, t in times.items()
            ],
            "lrrl",
        ),
        "",
        table(
            ["target", "measured", "threshold", "result"],
            [
                [
                    "rules add to the demo build time (median of paired ratios)",
                    f"{overhead:+.1%}",
                    f"<= +{TARGET:.0%}",
                    "PASS" if overhead <= TARGET else "FAIL",
                ]
            ],
            "lrrl",
        ),
        "",
        "In the demo-rules build, what exists for the rules (every node of the rules and "
        "lists stages and the compliance tests, and " + ", ".join(RULE_MODELS) + ") took "
        f"{rule_seconds:.1f} s of {node_seconds:.1f} s of node time "
        f"({rule_seconds / node_seconds:.0%}).",
        "",
    ]
    report = "\n".join(lines)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(report)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
