"""HTTP load: ``recsql serve`` answering known customers' recommendations, open loop, on the
100,000-customer tenant of the serving-latency benchmark; and while a build runs and publishes.

Usage: ``.venv/bin/python benchmarks/http_load.py [--work-dir DIR [--reuse]] [--seconds 20]
[--rates 200,500] [--during-build-rate 200] [--workers 1] [--interactions 2000000] [--seed 1]``

1. The world of ``benchmarks/serving_latency.py`` (its ``prepare_input``: one generated tenant,
   100,000 customers, 20,000 items, 2 M interactions) is built with ``_common.timed_build``
   (with ``--reuse``, the build an earlier run of either script left in ``--work-dir``).
2. ``recsql serve`` starts in a subprocess on 127.0.0.1 (a free port; ``--workers`` processes)
   with a key of the tenant created by ``recsql keys create``; a warm-up of 300 requests loads
   the tenant.
3. For each rate of ``--rates``: an **open loop** — request i is due at ``start + i / rate``,
   whether or not earlier ones have been answered — for ``--seconds`` seconds, over keep-alive
   HTTP/1.1 connections (a pool: a due request takes an idle connection, or opens one). The
   latency of a request runs from when it was *due* to its last byte, so a server that falls
   behind is charged for the wait (no coordinated omission). ``GET
   /v1/tenants/<t>/customers/<c>/recommendations?k=10`` for customers drawn at random from
   those with a discover list. An error is any answer but a 200 with a list, or a failed
   connection.
4. Then the same loop at ``--during-build-rate`` while the same input is built again into
   the served file (``--retrain all``, a fresh process), until the server reports the new
   build (``/readyz``) and 5 s more: the requests during the build, the publish and the switch.

Requests are bounded (the rates times the seconds; the build phase stops after
``--build-timeout`` seconds at most) and go to 127.0.0.1 only. The client runs on the same
machine as the server, in one process with an asyncio loop (uvloop). Writes
``docs/benchmarks/http_load.md`` and prints it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
from _common import DOCS, ROOT, TimedBuild, command_line, machine, now, table, timed_build
from _common import version as package_version
from serving_latency import built_world

TARGET_P99_MS = 10.0
TARGET_RATE = 200
WARM_UP = 300


@dataclass
class Phase:
    name: str
    rate: float
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    sent: int = 0
    seconds: float = 0.0
    load: tuple[float, float] = (0.0, 0.0)
    connections: int = 0
    #: idle connections the server had closed, reopened for a request (not errors)
    reopened: int = 0
    note: str = ""


# --- the client: an open loop over keep-alive connections ---------------------------------------


class Client:
    """Keep-alive HTTP/1.1 connections to 127.0.0.1:port, taken from a pool."""

    def __init__(self, port: int, key: str) -> None:
        self.port, self.key = port, key
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.opened = 0
        self.reopened = 0

    async def get(self, path: str) -> tuple[int, bytes]:
        """One request; on an idle connection the server closed meanwhile (nothing read),
        once more on a new connection, as HTTP clients do (counted in ``reopened``)."""
        for attempt in range(2):
            reused = bool(self.idle) and attempt == 0  # the retry: on a new connection
            if reused:
                reader, writer = self.idle.pop()
            else:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                self.opened += 1
            request = (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Bearer {self.key}\r\n\r\n"
            )
            try:
                writer.write(request.encode())
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError) as error:
                writer.close()
                nothing = not isinstance(error, asyncio.IncompleteReadError) or not error.partial
                if reused and nothing and attempt == 0:
                    self.reopened += 1
                    continue
                raise
            try:
                lines = head.decode("latin-1").split("\r\n")
                status = int(lines[0].split(" ")[1])
                length = next(
                    int(line.split(":", 1)[1])
                    for line in lines
                    if line.lower().startswith("content-length:")
                )
                body = await reader.readexactly(length)
            except BaseException:
                writer.close()
                raise
            self.idle.append((reader, writer))
            return status, body
        raise AssertionError("unreachable")

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


async def open_loop(
    client: Client, paths: list[str], rate: float, phase: Phase, until: Any = None
) -> None:
    """Send ``paths`` in order, request i due at start + i / rate (until ``until()`` says
    stop, when given); record latencies from the due time and errors in ``phase``."""
    # time.perf_counter, not the loop's clock: uvloop's counts whole milliseconds
    start = time.perf_counter()
    pending: set[asyncio.Task[None]] = set()
    opened, reopened = client.opened, client.reopened

    async def one(path: str, due: float) -> None:
        try:
            status, body = await client.get(path)
            if status != 200 or b'"items"' not in body:
                phase.errors.append(f"{status} {body[:200]!r}")
                return
            phase.latencies_ms.append((time.perf_counter() - due) * 1000)
        except (OSError, asyncio.IncompleteReadError, ValueError, StopIteration) as error:
            phase.errors.append(repr(error))

    load_before = os.getloadavg()[0]
    for i, path in enumerate(paths):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if until is not None and until():
            break
        task = asyncio.ensure_future(one(path, due))
        pending.add(task)
        task.add_done_callback(pending.discard)
        phase.sent += 1
    if pending:
        await asyncio.wait(pending)
    phase.seconds = time.perf_counter() - start
    phase.load = (load_before, os.getloadavg()[0])
    phase.connections = client.opened - opened
    phase.reopened = client.reopened - reopened


# --- the server ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def readyz(port: int) -> dict[str, Any] | None:
    import http.client

    try:
        con = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        con.request("GET", "/readyz")
        response = con.getresponse()
        body = json.loads(response.read())
        con.close()
        return body if response.status == 200 else None
    except OSError:
        return None


def start_server(db: Path, keys: Path, port: int, workers: int, log: Path) -> subprocess.Popen:
    recsql = Path(sys.executable).with_name("recsql")
    command = [str(recsql), "serve", "--db", str(db), "--keys", str(keys), "--port", str(port)]
    command += ["--workers", str(workers)]
    with open(log, "w") as output:
        server = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while readyz(port) is None:
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the server did not start: {log.read_text()}")
        time.sleep(0.2)
    return server


# --- the run -------------------------------------------------------------------------------------


@dataclass
class Results:
    args: argparse.Namespace
    build: TimedBuild
    generate_command: str
    tenant: str
    customers: int
    phases: list[Phase]
    rebuild: TimedBuild | None
    switched_after: float | None
    seconds: float


def customers_of(db: Path) -> tuple[str, list[str]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        [(tenant,)] = con.execute("select tenant_id from recsql_data.tenant_settings").fetchall()
        known = [
            row[0]
            for row in con.execute(
                "select distinct customer_id from recsql_data.recommendations order by 1"
            ).fetchall()
        ]
    finally:
        con.close()
    return tenant, known


def run(args: argparse.Namespace, work: Path) -> Results:
    started = time.perf_counter()
    generate_command, build, _, _ = built_world(args, work)
    data, db = work / "input", work / "serving.duckdb"
    tenant, known = customers_of(build.db_path)
    rng = random.Random(args.seed)

    def paths(n: int) -> list[str]:
        return [
            f"/v1/tenants/{tenant}/customers/{c}/recommendations?k=10"
            for c in rng.choices(known, k=n)
        ]

    keys = work / "keys.json"
    done = subprocess.run(
        [str(Path(sys.executable).with_name("recsql")), "keys", "create", "--keys", str(keys),
         "--tenant", tenant],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    key = done.stdout.strip().splitlines()[-1]
    port = free_port()
    server = start_server(build.db_path, keys, port, args.workers, work / "serve.log")
    phases: list[Phase] = []
    rebuild: TimedBuild | None = None
    switched_after: float | None = None
    try:
        asyncio_run = _event_loop_runner()
        client = Client(port, key)
        print("warm-up (loads the tenant) ...", flush=True)
        asyncio_run(open_loop(client, paths(WARM_UP), 100, Phase("warm-up", 100)))
        for rate in args.rates:
            phase = Phase(f"{rate:g} req/s", rate)
            print(f"{phase.name} for {args.seconds:g} s ...", flush=True)
            asyncio_run(open_loop(client, paths(int(rate * args.seconds)), rate, phase))
            phases.append(phase)
        # a build and its publish, under load
        before = readyz(port)
        during = Phase(f"{args.during_build_rate:g} req/s during a build + publish",
                       args.during_build_rate)  # fmt: skip
        outcome: dict[str, Any] = {}
        switched: dict[str, float] = {}
        build_started = time.monotonic()

        def rebuild_now() -> None:
            try:
                outcome["build"] = timed_build(data, db, retrain="all")
            except Exception as error:  # reported, and the loop stops
                outcome["error"] = error

        def watch() -> None:
            while (
                "switched" not in switched and time.monotonic() - build_started < args.build_timeout
            ):
                state = readyz(port)
                if state is not None and before is not None and state != before:
                    switched["switched"] = time.monotonic()
                time.sleep(0.2)

        builder = threading.Thread(target=rebuild_now)
        watcher = threading.Thread(target=watch)
        builder.start()
        watcher.start()

        def finished() -> bool:
            if "error" in outcome:
                return True
            if time.monotonic() - build_started > args.build_timeout:
                return True
            return "switched" in switched and time.monotonic() - switched["switched"] > 5

        print(f"{during.name} (until the server switches, +5 s) ...", flush=True)
        bound = int(args.during_build_rate * args.build_timeout)
        asyncio_run(open_loop(client, paths(bound), args.during_build_rate, during, finished))
        builder.join()
        watcher.join()
        if "error" in outcome:
            raise outcome["error"]
        rebuild = outcome["build"]
        if "switched" in switched:
            switched_after = switched["switched"] - build_started
        else:
            during.note = "the server had not switched to the new build when the phase ended"
        phases.append(during)
        client.close()
    finally:
        server.terminate()
        server.wait(30)
    return Results(args, build, generate_command, tenant, len(known), phases, rebuild,
                   switched_after, time.perf_counter() - started)  # fmt: skip


def _event_loop_runner() -> Any:
    """A function running a coroutine to completion on one event loop (uvloop if present)."""
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop is in the serve extra
        loop = asyncio.new_event_loop()
    return loop.run_until_complete


# --- the report ----------------------------------------------------------------------------------


def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 1000) - 1]


def render(res: Results) -> str:
    args = res.args
    rows = []
    for p in res.phases:
        rows.append([
            p.name, p.sent, round(p.sent / p.seconds, 1) if p.seconds else 0.0,
            quantile(p.latencies_ms, 0.5), quantile(p.latencies_ms, 0.9),
            quantile(p.latencies_ms, 0.99), max(p.latencies_ms, default=float("nan")),
            len(p.errors), p.connections, p.reopened, f"{p.load[0]:.1f} → {p.load[1]:.1f}",
        ])  # fmt: skip
    at_target = next(
        (p for p in res.phases if p.rate == TARGET_RATE and "build" not in p.name), None
    )
    during = next((p for p in res.phases if "build" in p.name), None)
    targets = []
    if at_target is not None:
        p99 = quantile(at_target.latencies_ms, 0.99)
        targets.append([
            f"p99 at {TARGET_RATE} req/s", f"{p99:.2f} ms",
            f"<= {TARGET_P99_MS:g} ms (quiet machine)",
            "PASS" if p99 <= TARGET_P99_MS else "FAIL",
        ])  # fmt: skip
    if during is not None:
        targets.append([
            "errors during a build + publish", str(len(during.errors)), "0",
            "PASS" if not during.errors and res.switched_after is not None else "FAIL",
        ])  # fmt: skip
    errors = Counter(e for p in res.phases for e in p.errors).most_common(5)
    rebuild = res.rebuild
    lines = [
        "# Benchmark: the HTTP API under load (`recsql serve`)",
        "",
        f"Command: `{command_line()}`  ",
        f"Input: `{res.generate_command}` (no bad rows), the tenants file of "
        "`benchmarks/serving_latency.py` (`ease_max_items` 5000: EASE fitted on the 5,000 "
        "most popular items); tenant "
        f"`{res.tenant}`, {res.customers:,} customers with a discover list.  ",
        f"Date: {now()}  ",
        f"Machine: {machine()}; fastapi {package_version('fastapi')}, uvicorn "
        f"{package_version('uvicorn')}, uvloop {package_version('uvloop')}, httptools "
        f"{package_version('httptools')}  ",
        f"Server: `recsql serve --workers {args.workers}` on 127.0.0.1 (access log off). "
        f"Client: this script, one process (asyncio + uvloop) on the same machine, keep-alive "
        f"connections. Benchmark wall time: {res.seconds / 60:.1f} min.",
        "",
        "The machine may be shared: the 1-minute load average before and after each phase is "
        "in the table (on 2 cores, above 2 means the server, the client and other processes "
        "queued for the CPU — their tails above all).",
        "",
        "## Targets",
        "",
        table(["target", "measured", "threshold", "result"], targets, "lrll"),
        "",
        "## Phases",
        "",
        "Each request: `GET /v1/tenants/<t>/customers/<c>/recommendations?k=10` with a bearer "
        "key, for a customer drawn at random (with replacement) from those with a discover list. "
        "Open loop: request i is due at start + i / rate; its latency runs from when it was due "
        "to its last byte (a server that falls behind is charged for the queue). *Reopened*: "
        "idle keep-alive connections the server had closed, reopened for the request as HTTP "
        "clients do (not errors).",
        "",
        table(
            [
                "phase",
                "requests",
                "sent/s",
                "p50 ms",
                "p90 ms",
                "p99 ms",
                "max ms",
                "errors",
                "connections opened",
                "reopened",
                "load",
            ],
            rows,
            "lrrrrrrrrrl",
        ),
        "",
    ]
    if rebuild is not None:
        switched = (
            f"the server answered from the new build {res.switched_after:.1f} s after the build "
            "started"
            if res.switched_after is not None
            else "the server did not switch"
        )
        lines += [
            f"**During a build + publish**: the same input rebuilt into the served file in a "
            f"fresh process with `retrain='all'` ({rebuild.seconds:.0f} s wall, peak RSS "
            f"{rebuild.peak_rss / 2**20:,.0f} MiB, load {rebuild.load[0]:.1f} → "
            f"{rebuild.load[1]:.1f}) while the loop ran; {switched} (it loads the tenant from "
            "the new file in the background, then switches: no request waits for the load). "
            "The phase ends 5 s after the switch. Its latency is reported, not judged: the "
            "build takes both cores.",
            "",
        ]
    for p in res.phases:
        if p.note:
            lines += [f"Note ({p.name}): {p.note}", ""]
    if errors:
        lines += ["Errors, most common first:", "", *[f"- {n} × `{e}`" for e, n in errors], ""]
    lines += [
        f"The first build (before the phases): {res.build.seconds:.0f} s wall.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interactions", type=int, default=2_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--ease-max-items", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=20, help="seconds per rate (default 20)")
    parser.add_argument(
        "--rates",
        type=lambda text: [float(r) for r in text.split(",")],
        default=[200.0, 500.0],
        help="requests per second, comma-separated (default 200,500)",
    )
    parser.add_argument("--during-build-rate", type=float, default=200)
    parser.add_argument(
        "--build-timeout", type=float, default=2400, help="the build phase's bound, seconds"
    )
    parser.add_argument("--workers", type=int, default=1, help="recsql serve --workers")
    parser.add_argument("--work-dir", type=Path, help="keep the input and builds here")
    parser.add_argument("--reuse", action="store_true", help="reuse the build in --work-dir")
    parser.add_argument("--out", type=Path, default=DOCS / "http_load.md")
    args = parser.parse_args()
    if args.reuse and not args.work_dir:
        parser.error("--reuse needs --work-dir")
    if args.work_dir:
        args.work_dir.mkdir(parents=True, exist_ok=True)
        report = render(run(args, args.work_dir.resolve()))
    else:
        with tempfile.TemporaryDirectory(prefix="recsql-http-") as work:
            report = render(run(args, Path(work)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(report)
    print(f"(written to {args.out.resolve().relative_to(ROOT)})")


if __name__ == "__main__":
    main()
