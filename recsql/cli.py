"""The ``recsql`` command: build, demo, status, models, serve, keys, generate,
convert-online-retail."""

from __future__ import annotations

import argparse
import logging
import os
import re
import shlex
import shutil
import sys
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

import duckdb

from recsql import __version__, memory, sql
from recsql.build import (
    BuildFailed,
    BuildResult,
    InputRefused,
    ProjectNotFound,
    build,
    project_dir,
)
from recsql.build.inputs import ContractError
from recsql.build.runner import RETRAIN_CHOICES
from recsql.lifecycle import state
from recsql.lifecycle.state import StateError

DEMO_DATA = Path("data") / "demo"


def _print(line: str = "") -> None:
    print(line, flush=True)


def _example_customer(db_path: Path) -> tuple[str, str] | None:

    con = duckdb.connect(str(db_path), read_only=True)
    try:
        rows = con.execute(
            "select tenant_id, customer_id from recommendations "
            "order by tenant_id, customer_id limit 1"
        ).fetchall()
        return rows[0] if rows else None
    finally:
        con.close()


def _as_typed(path: Path, cwd: Path) -> str:
    """``path`` (absolute, or relative to ``cwd``) as a user in ``cwd`` would type it: relative
    when it is under ``cwd``."""
    path = Path(os.path.abspath(cwd / path))
    return str(path.relative_to(cwd)) if path.is_relative_to(cwd) else str(path)


def _as_command(path: Path, cwd: Path) -> str:
    """``path`` as a command for a POSIX shell: with a slash, or the shell searches PATH."""
    typed = _as_typed(path, cwd)
    return shlex.quote(typed if "/" in typed else f"./{typed}")


def _double_quoted(text: str) -> str:
    """``text`` as one word for a POSIX shell, in double quotes (SQL's single quotes read as
    they are)."""
    return '"' + re.sub(r'([\\"$`])', r"\\\1", text) + '"'


def query_command(
    db_path: Path,
    query: str,
    *,
    interpreter: Path | None = None,
    search_path: str | None = None,
    cwd: Path | None = None,
) -> str:
    """A shell command that runs ``query`` on ``db_path``, read-only, from ``cwd``.

    It names a DuckDB CLI that is there: the one beside ``interpreter`` (the running Python;
    ``.venv/bin/duckdb`` after ``make demo``, which installs the ``duckdb-cli`` package), or
    plain ``duckdb`` when the shell finds that one or only some other one on ``search_path``
    (default: PATH). Without any DuckDB CLI, ``interpreter`` runs the query with the ``duckdb``
    Python package recsql depends on.
    """
    interpreter = Path(sys.executable) if interpreter is None else interpreter
    cwd = Path.cwd() if cwd is None else cwd
    db = _as_typed(db_path, cwd)
    beside = shutil.which("duckdb", path=str(interpreter.parent))
    on_path = shutil.which("duckdb", path=search_path)
    if on_path and (beside is None or os.path.samefile(beside, on_path)):
        cli = "duckdb"
    elif beside:
        cli = _as_command(Path(beside), cwd)
    else:
        code = f"import duckdb; duckdb.connect({db!r}, read_only=True).sql({query!r}).show()"
        return f"{_as_command(interpreter, cwd)} -c {_double_quoted(code)}"
    return f"{cli} -readonly {shlex.quote(db)} -c {_double_quoted(query)}"


def print_summary(result: BuildResult) -> None:
    _print()
    _print(f"Built {result.db_path} in {result.seconds:.1f}s ({result.tenants} tenant(s)).")
    _print()
    _print(f"  {'input':<20}{'read':>12}{'accepted':>12}{'quarantined':>13}")
    for c in result.counts:
        _print(
            f"  {c.source_table:<20}{c.rows_read:>12,}{c.rows_accepted:>12,}"
            f"{c.rows_quarantined:>13,}"
        )
    _print(
        f"  {'total':<20}{result.rows_read:>12,}{result.rows_accepted:>12,}"
        f"{result.rows_quarantined:>13,}"
    )
    if result.reasons:
        _print()
        _print("  Quarantined, by reason (rows and reasons: select * from quarantined_rows):")
        for table, reason, rows in result.reasons:
            _print(f"    {table:<20}{reason:<36}{rows:>10,}")
    if result.outcomes:
        _print()
        outcomes = ", ".join(f"{n:,} {outcome}" for outcome, n in result.outcomes.items())
        _print(f"  Tenants by outcome: {outcomes} (recsql status; report: {result.report_path})")
        if result.carried:
            _print(
                f"  {result.carried:,} of them kept their published lists: their inputs had not "
                "changed (build_history.carried)"
                + (
                    f"; {result.carried_before_staging:,} without their interactions being "
                    "validated: their raw rows had not changed either"
                    if result.carried_before_staging
                    else ""
                )
            )
    example = _example_customer(result.db_path)
    _print()
    _print("Query it from any DuckDB client (1.4 or later), for example:")
    if example:
        tenant, customer = example
        query = f"select * from recommend({sql.literal(tenant)}, {sql.literal(customer)}, 10)"
    else:
        query = "select * from popular_items limit 10"
    _print(f"  {query_command(result.db_path, query)}")


def _progress(line: str) -> None:
    _print(line)


def _tenant_list(text: str) -> list[str]:
    tenants = [tenant.strip() for tenant in text.split(",") if tenant.strip()]
    if not tenants:
        raise argparse.ArgumentTypeError("name at least one tenant, e.g. --tenants t1,t2")
    return tenants


def cmd_build(args: argparse.Namespace) -> int:
    _print(f"recsql build: {args.data} -> {args.db}")
    encodings: dict[str, str] = {}
    for table, encoding in args.encoding or []:
        if encodings.setdefault(table, encoding) != encoding:
            raise ContractError(f"--encoding {table}= is given twice: state each table once.")
    result = build(
        args.data,
        args.db,
        as_of=args.as_of,
        state_path=args.state,
        progress=_progress,
        encodings=encodings,
        retrain=args.retrain,
        tenants=args.tenants or (),
        keep_build_db=args.keep_build_db,
        memory_limit=args.memory_limit,
    )
    print_summary(result)
    if result.failed:
        _print()
        _print(
            f"Published, but {len(result.failed):,} tenant(s) failed: each keeps its previous "
            "lists, minus what today's rules forbid, until a build succeeds for it."
        )
        for tenant_id, reason in result.failed:
            _print(f"  {tenant_id} failed: {reason}")
        return 3
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    state_path = args.state or state.default_path(args.db.resolve())
    rows = state.builds(state_path, limit=args.limit)
    if args.json:
        print(state.as_json(rows))
        return 0
    _print(f"Builds recorded in {state_path} (newest first):")
    _print(
        f"  {'build':<22}{'as of':<21}{'status':<12}{'seconds':>8}{'tenants':>9}"
        f"{'trained':>9}{'promoted':>10}{'not due':>9}{'carried':>9}{'frozen':>8}{'off':>6}"
        f"{'failed':>8}{'rejected':>10}  ndcg down"
        "  message"
    )
    for row in rows:
        seconds = "" if row["seconds"] is None else f"{row['seconds']:,}"
        message = " ".join(str(row["message"] or "").split())
        _print(
            f"  {row['build_id']!s:<22}{row['as_of']!s:<21}{row['status']!s:<12}{seconds:>8}"
            f"{row['tenants']:>9,}{row['trained']:>9,}{row['promoted']:>10,}"
            f"{row['not_due']:>9,}{row['carried']:>9,}{row['frozen']:>8,}"
            f"{row['off']:>6,}{row['failed']:>8,}{row['rejected']:>10,}  "
            f"{_tenants_named(row['ndcg_dropped'])}  {message}"
        )
    return 0


def _tenants_named(tenants: object, most: int = 3) -> str:
    """``tenants`` for a table cell: how many, and the first few by name."""
    tenants = list(tenants) if isinstance(tenants, list) else []
    if not tenants:
        return "-"
    named = ", ".join(tenants[:most]) + (", ..." if len(tenants) > most else "")
    return f"{len(tenants)} ({named})"


def cmd_models(args: argparse.Namespace) -> int:
    state_path = args.state or state.default_path(args.db.resolve())
    if args.action == "list":
        found = state.versions(state_path, args.tenant)
        if args.json:
            print(state.as_json([{"tenant_id": args.tenant, **found}]))
            return 0
        if not found["versions"]:
            _print(f"Tenant {args.tenant} has no version in {state_path}.")
            return 0
        _print(f"Versions of tenant {args.tenant} in {state_path} (newest first):")
        _print(
            f"  {'version':<24}{'status':<12}{'algorithm':<22}{'trained at':<21}{'ndcg':>7}"
            "  stored  pinned  reason"
        )
        for row in found["versions"]:
            algorithm = "/".join(str(v) for v in (row["algorithm"], row["variant"]) if v)
            ndcg = "" if row["ndcg"] is None else f"{row['ndcg']:.3f}"
            _print(
                f"  {row['version']!s:<24}{row['status']!s:<12}{algorithm:<22}"
                f"{row['trained_at']!s:<21}{ndcg:>7}  {'yes' if row['stored'] else 'no':<8}"
                f"{'yes' if row['pinned'] else '':<8}{row['reason']}"
            )
        for row in found["requests"]:
            done = (
                "waiting for the next build"
                if row["is_pending"]
                else f"applied by build {row['build_id']}"
            )
            what = f"{row['action']} {row['version'] or ''}".strip()
            _print(f"  request {row['request_id']}: {what} ({row['why']}), {done}")
        return 0
    if args.action in ("promote", "pin") and not args.version:
        raise StateError(f"recsql models {args.action} needs --version V (recsql models list).")
    request_id = state.request(state_path, args.tenant, args.action, args.why or "", args.version)
    _print(
        f"Recorded request {request_id}: {args.action} {args.version or ''} for tenant "
        f"{args.tenant}. The next build applies it (recsql build ... --state {state_path})."
    )
    return 0


def _demo_customers(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str]]:
    """The first customer with a discover list in each of a few countries (from the published
    file: what any client of it could ask)."""
    return con.execute(
        """
        select c.tenant_id, min(c.customer_id), c.country
        from recsql_data.customer_rule_states as c
        semi join recommendations as r using (tenant_id, customer_id)
        where c.country in ('United Kingdom', 'Germany', 'France')
        group by c.tenant_id, c.country
        order by c.country
        """
    ).fetchall()


def _print_demo_lists(result: BuildResult) -> None:
    con = duckdb.connect(str(result.db_path), read_only=True)
    try:
        for tenant, customer, country in _demo_customers(con):
            _print()
            _print(f"Customer {customer} ({country}):")
            for macro, k, heading in (
                ("recommend", 5, None),
                ("new_for_you", 2, "new items (new_for_you):"),
            ):
                rows = con.execute(
                    f"select r.rank, r.item_id, i.name, r.reason from {macro}(?, ?, {k}) as r "
                    "left join items as i on i.tenant_id = r.tenant_id and i.item_id = r.item_id "
                    "order by r.rank",
                    [tenant, customer],
                ).fetchall()
                if rows and heading:
                    _print(f"  {heading}")
                for rank, item, name, reason in rows:
                    _print(f"  {rank:>2}. {item:<8} {name or '':<40} {reason}")
    finally:
        con.close()


def _print_rule_decisions(db_path: Path) -> None:

    con = duckdb.connect(str(db_path), read_only=True)
    try:
        rows = con.execute(
            "select action, rule, sum(candidates), sum(customers) from rule_decisions "
            "where shelf = 'discover' group by all order by 1, 3 desc, 4 desc"
        ).fetchall()
    finally:
        con.close()
    if not rows:
        return
    _print()
    _print("What the business rules did to the discover lists (select * from rule_decisions):")
    for action, rule, candidates, customers in rows:
        counted = f"{candidates:>9,} candidates" if candidates else " " * 20
        _print(f"  {action:<9}{rule:<34}{counted}  {customers:>6,} customers")


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        from recsql.http.app import Config
        from recsql.http.server import serve
    except ModuleNotFoundError as error:
        print(
            f"recsql: serve needs the HTTP extra ({error.name} is missing): "
            "pip install 'recsql[serve]'",
            file=sys.stderr,
        )
        return 2
    from recsql.http.keys import KeysError, read

    try:
        if not read(args.keys):
            print(
                f"recsql: {args.keys} holds no key: create one first "
                f"(recsql keys create --keys {args.keys} --tenant T)",
                file=sys.stderr,
            )
            return 2
    except KeysError as error:
        print(f"recsql: {error}", file=sys.stderr)
        return 2
    if not args.db.exists():
        print(
            f"recsql: {args.db} does not exist yet: serving it once a build publishes it "
            "(/readyz answers 503 until then)",
            file=sys.stderr,
        )
    serve(
        Config(args.db.resolve(), args.keys.resolve(), args.rate_limit),
        host=args.host,
        port=args.port,
        workers=args.workers,
        access_log=args.access_log,
    )
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from recsql.http import keys

    try:
        if args.action == "create":
            key = keys.create(args.keys, args.tenant)
            _print(f"A new key for tenant {args.tenant}, stored in {args.keys} as a hash only:")
            _print("it is shown this once. Send it as the header Authorization: Bearer <key>.")
            _print(key)  # the last line of stdout is the key alone
        else:
            for entry in keys.revoke(args.keys, args.tenant, args.key):
                _print(f"revoked key {entry.key_id} of tenant {entry.tenant_id}")
    except keys.KeysError as error:
        print(f"recsql: {error}", file=sys.stderr)
        return 2
    return 0


def _port(text: str) -> int:
    port = int(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text} is no port (0 to 65535)")
    return port


def _rate(text: str) -> float:
    rate = float(text)
    if not rate > 0:
        raise argparse.ArgumentTypeError(f"{text}: a rate is a positive number of requests/s")
    return rate


def cmd_demo(args: argparse.Namespace) -> int:
    data = project_dir() / DEMO_DATA
    _print(f"recsql demo: building the bundled Online Retail data ({data}) into {args.db}")
    _print("Data: UCI Online Retail (Chen, Sain & Guo 2012), CC BY 4.0 — see NOTICE.")
    result = build(data, args.db, state_path=args.state, progress=_progress)
    print_summary(result)
    _print_rule_decisions(result.db_path)
    _print("(The demo's rules are illustrative: data/demo/README.md.)")
    _print_demo_lists(result)
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from recsql.datasets.generator import generate

    report = generate(
        args.out,
        tenants=args.tenants,
        customers=args.customers,
        items=args.items,
        interactions=args.interactions,
        seed=args.seed,
        bad_share=args.bad_share,
        fmt=args.format,
        tenant_id_column=not args.no_tenant_id,
        end_date=args.end_date,
        days=args.days,
    )
    _print(f"Wrote {report.out_dir}:")
    for table, rows in report.rows.items():
        _print(f"  {table:<20}{rows:>12,} rows")
    planted = sum(report.planted.values())
    if planted:
        _print(f"  {planted:,} bad rows planted (by reason: {report.out_dir / '_generation.json'})")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from recsql.datasets.online_retail import DEFAULT_SOURCE, convert

    report = convert(args.source or DEFAULT_SOURCE, args.out)
    _print(report.summary())
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _timestamp(text: str) -> str:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a timestamp: write it as 2026-01-31 or 2026-01-31 03:00:00"
        ) from None
    return text


def _memory_size(text: str) -> int:
    try:
        return memory.parse_size(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _table_encoding(text: str) -> tuple[str, str]:
    table, equals, encoding = text.partition("=")
    if not (table.strip() and equals and encoding.strip()):
        raise argparse.ArgumentTypeError(f"expected TABLE=ENCODING, e.g. items=cp1252, not {text}")
    return table.strip(), encoding.strip()


def _share(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), not {value}")
    return value


def _db_argument(command: argparse.ArgumentParser, which: str = "") -> None:
    command.add_argument(
        "--db",
        default=Path("recsql.duckdb"),
        type=Path,
        metavar="PATH",
        help=f"the served database{' ' + which if which else ''} (default: ./recsql.duckdb)",
    )


def _keys_argument(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--keys", required=True, type=Path, metavar="FILE", help="the keys file of the HTTP API"
    )


def _state_argument(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--state",
        type=Path,
        metavar="PATH",
        help="the state database: build history, model registry (default: <db>.state.duckdb "
        "beside the served database; docs/lifecycle.md)",
    )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="recsql",
        description="An embeddable, SQL-native recommender that lives in a DuckDB file.",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    b = sub.add_parser(
        "build",
        help="build input files into a served database",
        description="Read every table from DIR as <table>.csv (.csv.gz, .csv.zst), "
        "<table>.parquet or a folder <table>/ of such files (docs/contract.md), validate them, "
        "build every model and publish the result to PATH atomically. Exit status: 0 "
        "published; 3 published, but some tenants failed (each keeps its previous lists; one "
        "line per tenant says why); 1 a build failure and 2 an input, contract or state error "
        "(nothing published).",
    )
    b.add_argument("--data", required=True, type=Path, metavar="DIR", help="input directory")
    _db_argument(b)
    b.add_argument(
        "--as-of",
        type=_timestamp,
        metavar="TIMESTAMP",
        help="treat this as the build time (default: now), e.g. 2011-12-10",
    )
    b.add_argument(
        "--encoding",
        action="append",
        type=_table_encoding,
        metavar="TABLE=ENCODING",
        help="the encoding of a table's CSV files, e.g. items=cp1252 (repeatable; default: "
        "UTF-8, or UTF-16 by its byte-order mark)",
    )
    b.add_argument(
        "--retrain",
        choices=RETRAIN_CHOICES,
        default="due",
        help="which tenants train a new version: due (a trigger fired, the default), all, or "
        "none; the others are served by their active version (docs/lifecycle.md)",
    )
    b.add_argument(
        "--tenants",
        type=_tenant_list,
        metavar="T1,T2",
        help="build only these tenants; the others keep serving the lists of the published file "
        "(minus what today's rules forbid)",
    )
    b.add_argument(
        "--memory-limit",
        type=_memory_size,
        metavar="SIZE",
        help="the memory the whole build may use, e.g. 8GiB (default: 60%% of the machine's or "
        "the container's); tenants are built in shards that fit it (docs/architecture.md)",
    )
    b.add_argument(
        "--keep-build-db",
        action="store_true",
        help="keep the build's scratch database (<db>.build/build.duckdb) to look closer; it "
        "holds every input row, erased customers' included (docs/privacy.md): delete it after",
    )
    _state_argument(b)
    b.set_defaults(func=cmd_build)

    d = sub.add_parser(
        "demo",
        help="build the bundled Online Retail data and show some recommendations",
        description="Build the bundled UCI Online Retail data into PATH and print a few "
        "customers' recommendations.",
    )
    _db_argument(d)
    _state_argument(d)
    d.set_defaults(func=cmd_demo)

    s = sub.add_parser(
        "status",
        help="show the builds recorded in a state database",
        description="List the last builds of a served database from its state file: id, clock "
        "(as of), status, duration, and how many tenants were on, frozen or off.",
    )
    _db_argument(s, "whose state to show")
    _state_argument(s)
    s.add_argument("--limit", type=_positive_int, default=20, help="builds to show (default 20)")
    s.add_argument("--json", action="store_true", help="print JSON instead of a table")
    s.set_defaults(func=cmd_status)

    v = sub.add_parser(
        "serve",
        help="serve a database over HTTP (JSON lists, per-tenant keys, events)",
        description="Answer the HTTP API of docs/http.md from the served database: every list "
        "as JSON, each tenant readable only with its own keys (recsql keys create), real-time "
        "events appended to <db>.events/ for the next build. Follows each publish without a "
        "restart. OpenAPI at /docs.",
    )
    _db_argument(v, "to serve")
    _keys_argument(v)
    v.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    v.add_argument("--port", type=_port, default=8080, help="port (default 8080)")
    v.add_argument("--workers", type=_positive_int, default=1, help="server processes (default 1)")
    v.add_argument(
        "--rate-limit",
        type=_rate,
        metavar="N",
        help="requests per second allowed per key and server process (default: no limit); "
        "beyond it: 429 with Retry-After",
    )
    v.add_argument("--access-log", action="store_true", help="log every request")
    v.set_defaults(func=cmd_serve)

    k = sub.add_parser(
        "keys",
        help="create or revoke API keys of the HTTP API",
        description="create: a new key for a tenant, printed once (the last line of the "
        "output is the key alone); the file stores only its hash. revoke: one key (--key, the "
        "key or its id) or every key of the tenant. A running server sees the change at its "
        "next request.",
    )
    k.add_argument("action", choices=["create", "revoke"])
    _keys_argument(k)
    k.add_argument("--tenant", required=True, help="the tenant the key reads")
    k.add_argument("--key", help="revoke: the key (or its id) to revoke; default: all of them")
    k.set_defaults(func=cmd_keys)

    m = sub.add_parser(
        "models",
        help="list a tenant's versions; promote, pin or unpin one",
        description="list: a tenant's versions and the operators' requests on them. promote: "
        "serve version V from the next build on (automatic retraining goes on). pin: serve V "
        "and train the tenant no more until unpin. unpin: let the triggers retrain it again. "
        "A request is applied by the next build and kept in the history (docs/lifecycle.md).",
    )
    m.add_argument("action", choices=("list", *state.OPERATOR_ACTIONS))
    m.add_argument("--tenant", required=True, metavar="T")
    m.add_argument("--version", metavar="V", help="the version to promote or pin")
    m.add_argument("--why", metavar="TEXT", help="why (required but for list): kept in history")
    m.add_argument("--json", action="store_true", help="list: print JSON")
    _db_argument(m, "whose state to use")
    _state_argument(m)
    m.set_defaults(func=cmd_models)

    g = sub.add_parser(
        "generate",
        help="write synthetic input files with planted structure and bad rows",
        description="Write contract-conforming synthetic inputs to DIR. Sizes are per tenant. "
        "Deterministic for a seed.",
    )
    g.add_argument("--tenants", type=_positive_int, default=1)
    g.add_argument("--customers", type=_positive_int, default=1000, help="per tenant")
    g.add_argument("--items", type=_positive_int, default=500, help="per tenant")
    g.add_argument("--interactions", type=_positive_int, default=20000, help="per tenant")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument(
        "--bad-share",
        type=_share,
        default=0.0,
        help="share of bad rows of every kind, e.g. 0.02 (default 0)",
    )
    g.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    g.add_argument(
        "--no-tenant-id",
        action="store_true",
        help="single tenant, files without a tenant_id column",
    )
    g.add_argument("--end-date", type=date.fromisoformat, default=date(2025, 12, 31))
    g.add_argument("--days", type=_positive_int, default=365, help="days of history")
    g.add_argument("--out", required=True, type=Path, metavar="DIR")
    g.set_defaults(func=cmd_generate)

    c = sub.add_parser(
        "convert-online-retail",
        help="convert the UCI Online Retail data to the input contract",
        description="Map the UCI Online Retail file to interactions, items and customers "
        "(see recsql/datasets/online_retail.py for the mapping).",
    )
    c.add_argument("--source", type=Path, help="online_retail.parquet (default: the bundled copy)")
    c.add_argument("--out", required=True, type=Path, metavar="DIR")
    c.set_defaults(func=cmd_convert)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="recsql: %(levelname)s: %(message)s",
    )
    try:
        return int(args.func(args))
    except ContractError as error:
        print(f"recsql: input error: {error}", file=sys.stderr)
        return 2
    except InputRefused as error:  # the input, as a contract error: nothing published
        print(f"recsql: input error: {error}", file=sys.stderr)
        return 2
    except BuildFailed as error:
        print(f"recsql: {error}", file=sys.stderr)
        return 1
    except ProjectNotFound as error:
        print(f"recsql: {error}", file=sys.stderr)
        return 2
    except StateError as error:
        print(f"recsql: state error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
