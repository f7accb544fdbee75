"""The state database: what must outlive a build, in a DuckDB file of its own.

The published file is derived and disposable; the state is not. ``recsql build`` keeps, beside
the served ``<name>.duckdb``, a ``<name>.state.duckdb`` (or ``--state PATH``) holding the
history of builds and of what each did for each tenant, and the model registry. No
query of the published file reads it: what clients need from it is copied into the published
file by the build.

One writer at a time: a build holds an exclusive lock on ``<state>.lock`` from start to end
(the kernel drops it when the process dies, even by SIGKILL); a second build refuses to start.
The DuckDB file itself is opened only for the moment of each write, so ``recsql status`` can
read it while a build runs.

A build's life in the ``builds`` table: ``running`` (recorded before dbt starts), then
``publishing`` (recorded, with everything the build adds to the state, just before the served
file is swapped), then ``published`` (after the swap), or ``failed``. A build killed in between
is reconciled by the next one: ``running`` becomes ``abandoned``; ``publishing`` becomes
``published`` if the served file carries its build id (the swap happened) and ``abandoned``
otherwise. Whatever a build wrote besides its ``builds`` row counts only once it is published:
readers of the history join on published builds, so reconciling never deletes anything.

The schema is versioned (``state_info.schema_version``); :data:`MIGRATIONS` takes a file from
any older version to the current one, each step in a transaction. A file from a newer recsql,
or one that is not a recsql state database, is refused with a message saying what to do.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from recsql import __version__, sql

#: The storage format of the state file: DuckDB clients from 1.4 on can read it.
STORAGE_VERSION = "v1.4.0"
_CATALOG = "recsql_state"

#: The model registry: every version with its status, which is the one its latest event (of a
#: published build) gave it. Over the state's tables, and at publishing over them and the
#: build's own rows.
_REGISTRY = """
    with events as (
        select events.*, builds.started_at
        from {events} as events
        inner join {builds} as builds on events.build_id = builds.build_id
    ),

    latest as (
        select * from events
        qualify row_number() over (
            partition by tenant_id, version order by started_at desc, build_id desc
        ) = 1
    )

    select
        versions.tenant_id,
        versions.version,
        latest.status,
        versions.algorithm,
        versions.variant,
        versions.buy_again_algorithm,
        versions.trained_at,
        versions.data_until,
        latest.ndcg,
        latest.active_ndcg,
        latest.reason,
        latest.build_id as status_build_id,
        versions.buy_again_ndcg,
        versions.interactions,
        versions.customers,
        versions.items,
        versions.input_fingerprint,
        versions.parameters,
        versions.library_versions
    from {versions} as versions
    inner join latest
        on versions.tenant_id = latest.tenant_id and versions.version = latest.version
"""

#: Per build and tenant: what the build did for the tenant (what decided whether it trained,
#: the outcome, why, the version it serves, whether it kept its published lists because its
#: inputs had not changed: carried), with the build's clock and the version's NDCG against the
#: one it was judged with.
_HISTORY = """
    select
        builds.build_id,
        builds.as_of,
        builds.started_at,
        tenants.tenant_id,
        tenants.mode,
        tenants.trigger,
        tenants.outcome,
        tenants.reason,
        tenants.version,
        events.ndcg,
        events.active_ndcg,
        tenants.fit_seconds,
        coalesce(tenants.carried, false) as carried
    from {tenant_builds} as tenants
    inner join {builds} as builds on tenants.build_id = builds.build_id
    left join {events} as events
        on tenants.build_id = events.build_id
            and tenants.tenant_id = events.tenant_id
            and tenants.version = events.version
"""

#: build_history as schema 6 defined it (migration 6's text, kept as it was).
_HISTORY_V6 = """
    select
        builds.build_id,
        builds.as_of,
        builds.started_at,
        tenants.tenant_id,
        tenants.mode,
        tenants.trigger,
        tenants.outcome,
        tenants.reason,
        tenants.version,
        events.ndcg,
        events.active_ndcg,
        tenants.fit_seconds
    from {tenant_builds} as tenants
    inner join {builds} as builds on tenants.build_id = builds.build_id
    left join {events} as events
        on tenants.build_id = events.build_id
            and tenants.tenant_id = events.tenant_id
            and tenants.version = events.version
"""

#: build_history as schema 3 defined it: a migration's text never changes, so this copy stays
#: as it was while _HISTORY grows.
_HISTORY_V3 = """
    select
        builds.build_id,
        builds.as_of,
        builds.started_at,
        tenants.tenant_id,
        tenants.mode,
        tenants.outcome,
        tenants.reason,
        tenants.version,
        events.ndcg,
        events.active_ndcg
    from {tenant_builds} as tenants
    inner join {builds} as builds on tenants.build_id = builds.build_id
    left join {events} as events
        on tenants.build_id = events.build_id
            and tenants.tenant_id = events.tenant_id
            and tenants.version = events.version
"""

#: build_history as schemas 4 and 5 defined it (migration 4's text, kept as it was).
_HISTORY_V4 = """
    select
        builds.build_id,
        builds.as_of,
        builds.started_at,
        tenants.tenant_id,
        tenants.mode,
        tenants.trigger,
        tenants.outcome,
        tenants.reason,
        tenants.version,
        events.ndcg,
        events.active_ndcg
    from {tenant_builds} as tenants
    inner join {builds} as builds on tenants.build_id = builds.build_id
    left join {events} as events
        on tenants.build_id = events.build_id
            and tenants.tenant_id = events.tenant_id
            and tenants.version = events.version
"""

#: Per tenant: its mode and outcome at the last build, the version serving it, and the clock
#: of the last build that published fresh lists for it (any outcome but off and failed, and
#: lists not carried).
_STATUS = """
    with latest as (
        select * from {history}
        qualify row_number() over (
            partition by tenant_id order by started_at desc, build_id desc
        ) = 1
    ),

    fresh as (
        select tenant_id, max(as_of) as last_built_at
        from {history}
        where outcome not in ('off', 'failed') and not carried
        group by tenant_id
    ),

    active as (
        select tenant_id, version from {registry} where status = 'active'
    )

    select
        latest.tenant_id,
        latest.mode,
        active.version as active_version,
        latest.outcome as last_outcome,
        latest.reason as last_reason,
        fresh.last_built_at
    from latest
    left join active on latest.tenant_id = active.tenant_id
    left join fresh on latest.tenant_id = fresh.tenant_id
"""

#: tenant_status as schema 3 defined it (migration 3's text, kept as it was).
_STATUS_V3 = """
    with latest as (
        select * from {history}
        qualify row_number() over (
            partition by tenant_id order by started_at desc, build_id desc
        ) = 1
    ),

    fresh as (
        select tenant_id, max(as_of) as last_built_at
        from {history}
        where outcome not in ('off', 'failed')
        group by tenant_id
    ),

    active as (
        select tenant_id, version from {registry} where status = 'active'
    )

    select
        latest.tenant_id,
        latest.mode,
        active.version as active_version,
        latest.outcome as last_outcome,
        latest.reason as last_reason,
        fresh.last_built_at
    from latest
    left join active on latest.tenant_id = active.tenant_id
    left join fresh on latest.tenant_id = fresh.tenant_id
"""

#: The audit trail of erasures: per tenant and request, the published build that first applied
#: it (its clock is when) and the rows it removed, by input table. No customer data: a request is
#: numbered per tenant in the order they were applied, its key stays in the state.
_ERASURE_LOG = """
    with applied as (
        select erasures.*, builds.as_of, builds.started_at
        from {erasures} as erasures
        inner join {builds} as builds on erasures.build_id = builds.build_id
        qualify row_number() over (
            partition by erasures.tenant_id, erasures.request_key
            order by builds.started_at, builds.build_id
        ) = 1
    )

    select
        tenant_id,
        row_number() over (
            partition by tenant_id order by started_at, build_id, requested_at, request_key
        ) as request,
        requested_at,
        as_of as applied_at,
        build_id,
        interactions_removed,
        customers_removed,
        consents_removed,
        customer_flags_removed,
        quarantined_rows_blanked
    from applied
"""

#: MIGRATIONS[n] takes a state database from schema version n to n + 1 (version 0: empty).
MIGRATIONS: tuple[str, ...] = (
    """
    create table state_info (key varchar primary key, value varchar not null);
    create table builds (
        build_id varchar primary key,
        -- the build's clock (--as-of, default the start): every lifecycle time is this one
        as_of timestamp not null,
        started_at timestamp not null,
        finished_at timestamp,
        status varchar not null
            check (status in ('running', 'publishing', 'published', 'failed', 'abandoned')),
        message varchar,
        recsql_version varchar not null,
        data_dir varchar,
        db_path varchar
    );
    -- each tenant's mode as each build read it (rows of builds that did not publish are
    -- ignored by readers: see published_builds)
    create table tenant_modes (
        build_id varchar not null,
        tenant_id varchar not null,
        mode varchar not null,
        primary key (build_id, tenant_id)
    );
    create view published_builds as
    select * from builds where status = 'published';
    """,
    """
    -- one row per tenant and training: the version of the tenant's model set (its id is the
    -- id of the build that trained it), what it was fitted with and on, and how it scored
    create table model_versions (
        tenant_id varchar not null,
        version varchar not null,
        trained_at timestamp not null,
        data_until timestamp,
        algorithm varchar not null,
        variant varchar,
        buy_again_algorithm varchar,
        parameters varchar,
        interactions bigint,
        customers bigint,
        items bigint,
        input_fingerprint varchar,
        library_versions varchar,
        ndcg double,
        buy_again_ndcg double,
        primary key (tenant_id, version)
    );
    -- every change of a version's status, by the build that made it
    create table registry_events (
        build_id varchar not null,
        tenant_id varchar not null,
        version varchar not null,
        status varchar not null check (status in (
            'candidate', 'active', 'rejected', 'superseded', 'retired', 'failed'
        )),
        reason varchar,
        ndcg double,
        active_ndcg double,
        primary key (build_id, tenant_id, version)
    );
    create view model_registry as
    """
    + _REGISTRY.format(
        versions="model_versions", events="registry_events", builds="published_builds"
    ),
    # what each build did for each tenant: tenant_modes becomes tenant_builds (builds of
    # schema 2 recorded the mode only)
    """
    alter table tenant_modes rename to tenant_builds;
    alter table tenant_builds add column outcome varchar;
    alter table tenant_builds add column reason varchar;
    alter table tenant_builds add column version varchar;
    create view build_history as
    """
    + _HISTORY_V3.format(
        tenant_builds="tenant_builds", builds="published_builds", events="registry_events"
    )
    + "; create view tenant_status as "
    + _STATUS_V3.format(history="build_history", registry="model_registry"),
    # the stored models: what scores new interactions with a version without refitting it
    # (docs/lifecycle.md); the trigger of each tenant's build; the erasures a version saw
    """
    alter table model_versions add column erasures bigint;
    alter table tenant_builds add column trigger varchar;
    -- co-occurrence similarities (also the similar-items list) and EASE's largest weights
    create table stored_neighbours (
        tenant_id varchar not null,
        version varchar not null,
        algorithm varchar not null,
        item_id varchar not null,
        rank bigint not null,
        neighbour_item_id varchar not null,
        weight double not null,
        shared_customers bigint
    );
    -- ALS item factors (a customer's factors are folded in from their history)
    create table stored_factors (
        tenant_id varchar not null,
        version varchar not null,
        item_id varchar not null,
        factors float[] not null
    );
    -- popularity per country (NULL: the tenant) and trending, as of the version's data
    create table stored_popularity (
        tenant_id varchar not null,
        version varchar not null,
        country varchar,
        item_id varchar not null,
        score double not null,
        buyers bigint not null,
        popularity_rank bigint not null
    );
    create table stored_trends (
        tenant_id varchar not null,
        version varchar not null,
        item_id varchar not null,
        recent_buyers bigint not null,
        baseline_buyers bigint not null,
        score double not null,
        trending_rank bigint not null
    );
    -- the buy-again model: its method, and the standardisation and coefficients it learned
    create table stored_repurchase (
        tenant_id varchar not null,
        version varchar not null,
        method varchar not null,
        mean double[],
        scale double[],
        coef double[]
    );
    create or replace view build_history as
    """
    + _HISTORY_V4.format(
        tenant_builds="tenant_builds", builds="published_builds", events="registry_events"
    ),
    # operators' decisions (recsql models promote|pin|unpin), applied by the next build
    """
    create sequence operator_request_ids;
    create table operator_requests (
        request_id bigint primary key default nextval('operator_request_ids'),
        tenant_id varchar not null,
        action varchar not null check (action in ('promote', 'pin', 'unpin')),
        version varchar,
        why varchar not null,
        requested_at timestamp not null,
        -- the build that applied it: NULL until a build does (it counts once published)
        build_id varchar
    );
    """,
    # the seconds the engine spent on each tenant's models at each build
    """
    alter table tenant_builds add column fit_seconds double;
    create or replace view build_history as
    """
    + _HISTORY_V6.format(
        tenant_builds="tenant_builds", builds="published_builds", events="registry_events"
    ),
    # erasure requests remembered by a keyed hash (recsql/lifecycle/erasures.py), never the id
    """
    -- the request keys of the erasures kept out of a version's data: a request whose key a
    -- serving version lacks retrains its tenant (NULL for versions of older recsqls: their
    -- count, model_versions.erasures, is compared instead)
    alter table model_versions add column erasure_keys varchar[];
    -- each erasure request as a build applied it: its key, when it was requested, and how many
    -- input rows of the customer the build kept from every model and published table
    create table erasures (
        build_id varchar not null,
        tenant_id varchar not null,
        request_key varchar not null,
        requested_at timestamp,
        interactions_removed bigint not null,
        customers_removed bigint not null,
        consents_removed bigint not null,
        customer_flags_removed bigint not null,
        quarantined_rows_blanked bigint not null
    );
    create view erasure_log as
    """
    + _ERASURE_LOG.format(erasures="erasures", builds="published_builds"),
    # a tenant whose inputs had not changed keeps its published lists (carried): not fresh ones
    """
    alter table tenant_builds add column carried boolean;
    create or replace view build_history as
    """
    + _HISTORY.format(
        tenant_builds="tenant_builds", builds="published_builds", events="registry_events"
    )
    + "; create or replace view tenant_status as "
    + _STATUS.format(history="build_history", registry="model_registry"),
    # the learned ranker of a version whose champion is ranked (docs/engine.md): its weights
    # on the ranker's features, named
    """
    create table stored_rankers (
        tenant_id varchar not null,
        version varchar not null,
        features varchar[] not null,
        weights double[] not null
    );
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


class StateError(RuntimeError):
    """The state file cannot be used: corrupt, from a newer recsql, or busy."""


def default_path(db_path: Path) -> Path:
    """The state file of the served database ``db_path``: ``<name>.state.duckdb`` beside it."""
    return db_path.with_name(f"{db_path.stem}.state.duckdb")


def _now() -> datetime:
    """Wall-clock time, UTC (microseconds: builds started in one second are still ordered)."""
    return datetime.now(UTC).replace(tzinfo=None)


def new_build_id(started: datetime | None = None) -> str:
    """A build id that sorts by start time: ``20261202T031500Z-3f9a``."""
    return f"{(started or _now()):%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


@contextlib.contextmanager
def connect(path: Path, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """The state database at ``path``, migrated to :data:`SCHEMA_VERSION` (created if missing;
    a read-only open of a missing or old file fails). Its tables are the connection's default
    schema."""
    if read_only and not path.exists():
        raise StateError(f"No state file at {path}: no build has used it yet.")
    con = duckdb.connect()
    try:
        # a new file in the storage format of STORAGE_VERSION; an existing one keeps its own
        options = (
            "read_only"
            if read_only
            else "read_write"
            if path.exists()
            else f"storage_version '{STORAGE_VERSION}'"
        )
        try:
            con.execute(f"attach {sql.literal(str(path))} as {_CATALOG} ({options})")
        except duckdb.Error as error:
            raise StateError(_unreadable(path, error)) from error
        con.execute(f"use {_CATALOG}")
        version = _schema_version(con, path)
        if version > SCHEMA_VERSION:
            raise StateError(
                f"{path} was written by a newer recsql (state schema {version}; this is recsql "
                f"{__version__}, which reads up to {SCHEMA_VERSION}). Upgrade recsql, or build "
                "with another --state file."
            )
        if version < SCHEMA_VERSION:
            if read_only:
                raise StateError(
                    f"{path} has state schema {version}; the next build migrates it to "
                    f"{SCHEMA_VERSION}. Run a build first."
                )
            migrate(con, version)
        yield con
    finally:
        con.close()


def _unreadable(path: Path, error: duckdb.Error) -> str:
    reason = str(error).splitlines()[0]
    if "lock" in reason.lower():
        return f"The state file {path} is open for writing by another process: {reason}"
    return (
        f"The state file {path} cannot be opened ({reason}). Restore it from a backup, or move "
        "it away to start every tenant fresh (docs/lifecycle.md)."
    )


def _schema_version(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    tables = {
        name
        for (name,) in con.execute(
            "select table_name from duckdb_tables() where database_name = current_database()"
        ).fetchall()
    }
    if not tables:
        return 0
    if "state_info" not in tables:
        raise StateError(
            f"{path} is a DuckDB database but not a recsql state file (it has no state_info "
            f"table; it holds {', '.join(sorted(tables)[:5])}). Give --state a path of its own."
        )
    rows = con.execute("select value from state_info where key = 'schema_version'").fetchall()
    if not rows or not rows[0][0].isdigit():
        raise StateError(f"{path} has no valid schema_version in state_info: it is damaged.")
    return int(rows[0][0])


def migrate(con: duckdb.DuckDBPyConnection, version: int, to: int = SCHEMA_VERSION) -> None:
    """Apply the migrations from schema ``version`` to ``to``, each in a transaction."""
    for step in range(version, to):
        con.execute("begin transaction")
        con.execute(MIGRATIONS[step])
        con.execute(
            "insert or replace into state_info values ('schema_version', ?), ('migrated_by', ?)",
            [str(step + 1), f"recsql {__version__}"],
        )
        con.execute("commit")


@dataclass(frozen=True)
class Build:
    """A build registered in the state: the id both files carry, and its clock."""

    build_id: str
    as_of: datetime
    state_path: Path


class Writer:
    """The one writer of a state file, for the length of a build: holds ``<state>.lock``."""

    def __init__(self, path: Path):
        self.path = path
        self._lock: int | None = None

    def __enter__(self) -> Writer:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 512, 0).decode(errors="replace").strip()
            os.close(fd)
            raise StateError(
                f"Another recsql build is using the state file {self.path} "
                f"({holder or 'a running process'}). Two builds never write one state: wait "
                "for it to finish."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, since {_now():%Y-%m-%d %H:%M:%S} UTC".encode(), 0)
        self._lock = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._lock is not None:
            os.close(self._lock)  # releases the lock
            self._lock = None

    def reconcile(self, db_path: Path) -> list[tuple[str, str]]:
        """Settle the builds a killed process left unfinished; ``(build_id, new status)``."""
        served = published_build_id(db_path)
        settled = []
        with connect(self.path) as con:
            unfinished = con.execute(
                "select build_id, status from builds where status in ('running', 'publishing')"
            ).fetchall()
            for build_id, status in unfinished:
                if status == "publishing" and build_id == served:
                    new, message = "published", "reconciled: the served file is this build's"
                else:
                    new = "abandoned"
                    message = f"reconciled: stopped while {status}, before its file was served"
                con.execute(
                    "update builds set status = ?, message = ? where build_id = ?",
                    [new, message, build_id],
                )
                if new == "abandoned":
                    _unrecord(con, build_id)
                settled.append((build_id, new))
        return settled

    def begin(self, *, as_of: datetime, data_dir: Path, db_path: Path) -> Build:
        """Record a new build as ``running``."""
        started = _now()
        build = Build(new_build_id(started), as_of, self.path)
        with connect(self.path) as con:
            con.execute(
                "insert into builds (build_id, as_of, started_at, status, recsql_version, "
                "data_dir, db_path) values (?, ?, ?, 'running', ?, ?, ?)",
                [build.build_id, as_of, started, __version__, str(data_dir), str(db_path)],
            )
        return build

    def fail(self, build: Build, message: str) -> None:
        """Record that ``build`` stopped without publishing (a build whose file was served
        stays ``published``: a failure after the swap does not unpublish it); what it recorded
        before the swap (``publishing``) is undone."""
        with connect(self.path) as con:
            con.execute("begin transaction")
            [(status,)] = con.execute(
                "select status from builds where build_id = ?", [build.build_id]
            ).fetchall()
            if status in ("running", "publishing"):
                con.execute(
                    "update builds set status = 'failed', message = ?, finished_at = ? "
                    "where build_id = ?",
                    [message, _now(), build.build_id],
                )
            if status == "publishing":
                _unrecord(con, build.build_id)
            con.execute("commit")


def _unrecord(con: duckdb.DuckDBPyConnection, build_id: str) -> None:
    """Undo what a build that was not published recorded before its swap: the stored models
    of the versions it trained (a version is its build; their registry rows stay unread, as
    those of a build not in published_builds) and the erasures it applied; the operators'
    requests it applied wait for the next build again."""
    for form in STORED_FORMS:
        con.execute(f"delete from stored_{form} where version = ?", [build_id])
    con.execute("delete from erasures where build_id = ?", [build_id])
    con.execute("update operator_requests set build_id = null where build_id = ?", [build_id])


#: What a version stores so that it can score new interactions without refitting: the state
#: table of each form is ``stored_<form>``; a build reads its tenants' active versions' forms
#: through :func:`active_rows`, and publishing records the forms of the versions it trained.
STORED_FORMS = ("neighbours", "factors", "popularity", "trends", "repurchase", "rankers")

#: Per tenant, the operators' requests that count: applied by a published build, or waiting
#: for the next build.
_REQUESTS = """
    select requests.*, requests.build_id is null as is_pending
    from operator_requests as requests
    where requests.build_id is null
        or requests.build_id in (select build_id from published_builds)
"""

#: Per tenant, the version its latest pin pins (none after an unpin).
_PINS = f"""
    select tenant_id, version
    from ({_REQUESTS})
    where action in ('pin', 'unpin')
    qualify row_number() over (partition by tenant_id order by request_id desc) = 1
        and action = 'pin'
"""

#: The version each tenant is served by at the next build — the registry's active one, or the
#: one a waiting operator request (promote, pin) names — with what a build needs of it: its
#: model (whether it is stored: a version trained by a recsql before the stored models has
#: none, and is trained again), whether the tenant is pinned, and the latest waiting request.
_SERVING_VERSIONS = f"""
    with pending as (
        select * from ({_REQUESTS}) where is_pending
        qualify row_number() over (partition by tenant_id order by request_id desc) = 1
    ),

    serving as (
        select
            active.tenant_id,
            if(pending.action in ('promote', 'pin'), pending.version, active.version)
                as version,
            pending.request_id as operator_request_id,
            pending.action as operator_action,
            pending.why as operator_why
        from model_registry as active
        left join pending on active.tenant_id = pending.tenant_id
        where active.status = 'active'
    )

    select
        serving.tenant_id, serving.version, versions.algorithm, versions.variant,
        versions.trained_at, versions.data_until, versions.interactions, versions.parameters,
        versions.erasures,
        versions.erasure_keys,
        exists (
            select 1 from stored_repurchase as stored
            where stored.tenant_id = serving.tenant_id and stored.version = serving.version
        ) as is_stored,
        pins.tenant_id is not null as is_pinned,
        serving.operator_request_id,
        serving.operator_action,
        serving.operator_why
    from serving
    inner join model_versions as versions
        on serving.tenant_id = versions.tenant_id and serving.version = versions.version
    left join ({_PINS}) as pins on serving.tenant_id = pins.tenant_id
"""


#: Per tenant, its candidate awaiting the promotion gate (status ``candidate``, with its stored
#: model; a tenant has at most one, docs/lifecycle.md), with what judging it needs.
_CANDIDATES = """
    select
        registry.tenant_id, registry.version, registry.algorithm, registry.variant,
        registry.trained_at, registry.data_until, versions.parameters
    from model_registry as registry
    inner join model_versions as versions
        on registry.tenant_id = versions.tenant_id and registry.version = versions.version
    semi join stored_repurchase as stored
        on registry.tenant_id = stored.tenant_id and registry.version = stored.version
    where registry.status = 'candidate'
    qualify row_number() over (
        partition by registry.tenant_id order by registry.trained_at desc, registry.version desc
    ) = 1
"""


@contextlib.contextmanager
def _reader(state_path: Path | None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection on the state's tables (its default schema); without a state
    file, an empty state of the current schema in memory."""
    con = duckdb.connect()
    try:
        if state_path is None:
            con.execute(f"attach ':memory:' as {_CATALOG}")
            con.execute(f"use {_CATALOG}")
            migrate(con, 0)
        else:
            con.execute(f"attach {sql.literal(str(state_path))} as {_CATALOG} (read_only)")
            con.execute(f"use {_CATALOG}")
        yield con
    finally:
        con.close()


def active_rows(
    state_path: Path | None, table: str, tenants: pa.Table | None = None
) -> pa.Table | pa.RecordBatchReader:
    """What a build reads of the state (the dbt sources of ``models/lifecycle``):
    ``active_versions`` (the version serving each tenant, :data:`_SERVING_VERSIONS`),
    ``candidate_versions`` (each tenant's candidate awaiting the promotion gate,
    :data:`_CANDIDATES`), or ``stored_<form>`` of those versions only - a stream (the stored
    models of thousands of tenants are never all in memory), in no particular order - and,
    given ``tenants`` (a table with a ``tenant_id`` column: those the build scores), of those
    tenants only. Empty without a state file (a plain dbt build)."""
    if table in ("active_versions", "candidate_versions"):
        query = _SERVING_VERSIONS if table == "active_versions" else _CANDIDATES
        with _reader(state_path) as con:
            return con.sql(query + " order by tenant_id").to_arrow_table()
    if table.removeprefix("stored_") not in STORED_FORMS:
        raise ValueError(f"{table!r} is not a table a build reads from the state")
    reading = _reader(state_path)
    con = reading.__enter__()
    scored = ""
    if tenants is not None:
        con.register("scored_tenants", tenants.select(["tenant_id"]))
        scored = "semi join scored_tenants as scored on stored.tenant_id = scored.tenant_id"
    rows = con.sql(
        f"select stored.* from {table} as stored semi join ("
        f"select tenant_id, version from ({_SERVING_VERSIONS}) union all "
        f"select tenant_id, version from ({_CANDIDATES})"
        f") as read on stored.tenant_id = read.tenant_id and stored.version = read.version {scored}"
    ).to_arrow_reader()

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            yield from rows
        finally:
            reading.__exit__(None, None, None)

    return pa.RecordBatchReader.from_batches(rows.schema, batches())


@dataclass(frozen=True)
class StateUpdate:
    """What a build adds to the state (its versions and their stored models, status changes,
    a row per tenant), and the registry, history and tenant status as they will be once the
    build is published: what the published file shows."""

    versions: pa.Table
    #: Per form, its rows: an Arrow table, or a DuckDB relation streamed when they are written.
    forms: dict[str, Any]
    #: The operators' requests the build read (tenant_id, the latest request_id): applied by it.
    applied_requests: pa.Table
    events: pa.Table
    tenants: pa.Table
    registry: pa.Table
    history: pa.Table
    status: pa.Table
    #: The erasure requests first applied by the build (the state's ``erasures`` rows).
    erasures: pa.Table
    #: The state's ``erasure_log`` as it will be once the build is published.
    erasure_log: pa.Table


#: Why a version trained by a build got its status.
FIRST_VERSION = "first version of the tenant: active at once"
ERASURE = (
    "retrained for an erasure request: active at once (the version it replaces was fitted on "
    "the erased data)"
)
CANDIDATE = (
    "retrained ({trigger}): a candidate, judged against the active version once "
    "promotion_min_customers customers have bought after its data"
)


def library_versions() -> str:
    """The versions of what fits and serves the models, as JSON."""
    from importlib import metadata

    names = ("recsql", "duckdb", "implicit", "numpy", "scipy", "dbt-core", "dbt-duckdb")
    found = {}
    for name in names:
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return json.dumps(found, sort_keys=True)


def pending(
    state_path: Path | None,
    build_id: str,
    as_of: datetime,
    trained: pa.Table,
    plans: pa.Table,
    judgements: pa.Table,
    forms: dict[str, Any],
    erasures: pa.Table | None = None,
) -> StateUpdate:
    """The state rows of build ``build_id``.

    ``plans``: one row per tenant (tenant_id, mode, action, trigger, reason,
    new_version_status, keep_versions, active_version, candidate_version,
    operator_request_id, operator_action, operator_why, carried) - what the build decided to
    do for it (``models/lifecycle/tenant_plans``). ``trained``: the versions it trained (one row per
    tenant, the columns of ``model_versions`` but ``library_versions``), ``forms``: their
    stored models (``stored_<form>`` rows by form; Arrow tables, or DuckDB relations read
    only when :func:`record_publishing` writes them, so that they are never all in memory).
    ``judgements``: the promotion gate's verdicts (``models/engine/promotion_judgements``).

    A trained version is active at once when it is the tenant's first or was trained for an
    erasure (the version it replaces becomes ``superseded``), else a ``candidate``; a
    candidate still waiting then is ``rejected``. A judged candidate becomes ``active`` (the
    active one ``superseded``) or ``rejected``, with both NDCGs. A version an operator
    promoted or pinned (trigger ``operator``) becomes active. Stored models beyond a tenant's
    ``keep_versions`` (besides the active, the candidate and the pinned one) are retired. The
    operators' requests the build read are applied by it. A tenant the build failed (trigger
    ``failed``) gets the outcome ``failed``, and a version trained for it the status
    ``failed``: its stored model is not kept, nor a judgement of its candidate; a tenant it
    left out (``not_selected``: ``--tenants``) no row; one it held because its inputs had not
    changed (``plans.carried``) the outcome ``not_due`` or ``frozen`` (its lists are not fresh:
    tenant_status' last_built_at stays). ``plans.fit_seconds``: the seconds the
    engine spent on the tenant's models (build_history). ``erasures``: the erasure requests the
    build applied (``models/base/erasure_removals`` without the customer ids): those no
    published build applied before are added to the log. Without a state file (a plain dbt
    build) every version is a first one, and every request a new one.
    """
    if erasures is None:
        erasures = pa.table(
            {"tenant_id": pa.array([], pa.string()), "request_key": pa.array([], pa.string())}
        )
    # a tenant the build failed keeps nothing of what was trained or judged for it
    failed_ids = pc.filter(plans.column("tenant_id"), pc.equal(plans.column("trigger"), "failed"))
    if len(failed_ids):

        def kept(table: pa.Table) -> pa.Table:
            return table.filter(
                pc.invert(pc.is_in(table.column("tenant_id"), value_set=failed_ids))
            )

        def kept_rows(rows: Any) -> Any:
            if isinstance(rows, pa.Table):
                return kept(rows)
            failed = ", ".join(sql.literal(tenant) for tenant in failed_ids.to_pylist())
            return rows.filter(f"tenant_id not in ({failed})")

        forms = {form: kept_rows(rows) for form, rows in forms.items()}
        judgements = kept(judgements)
    with _reader(state_path) as con:
        con.register("trained", trained)
        con.register("plans", plans)
        con.register("judgements", judgements)
        con.register("applied_erasures", erasures)
        new_erasures = con.sql(
            f"""
            select $build as build_id, applied.*
            from applied_erasures as applied
            anti join (
                select tenant_id, request_key from {_CATALOG}.erasures
                semi join {_CATALOG}.published_builds as builds using (build_id)
            ) as known
                on applied.tenant_id = known.tenant_id
                    and applied.request_key = known.request_key
            order by applied.tenant_id, applied.request_key
            """,
            params={"build": build_id},
        ).to_arrow_table()
        con.register("new_erasures", new_erasures)
        versions = con.sql(
            "select *, $1 as library_versions from trained", params=[library_versions()]
        ).to_arrow_table()
        con.register("new_versions", versions)
        events = con.sql(
            f"""
            with active as (
                select * from {_CATALOG}.model_registry where status = 'active'
            ),

            trainings as (
                select
                    new.*, plans.new_version_status, plans.trigger, plans.candidate_version,
                    plans.reason
                from new_versions as new
                inner join plans on new.tenant_id = plans.tenant_id
            ),

            changed as (
                -- what this build trained: active at once, or a candidate
                select
                    $build as build_id, new.tenant_id, new.version,
                    case
                        when new.trigger = 'failed' then 'failed'
                        when new.new_version_status = 'active' then 'active'
                        else 'candidate'
                    end as status,
                    case new.trigger
                        when 'first_version' then $first
                        when 'erasure' then $erasure
                        when 'failed' then new.reason
                        else replace($candidate, '{{trigger}}', new.trigger)
                    end as reason,
                    new.ndcg, active.ndcg as active_ndcg
                from trainings as new
                left join active on new.tenant_id = active.tenant_id
                union all
                select
                    $build, active.tenant_id, active.version, 'superseded',
                    'replaced by version ' || new.version || ' (' || new.trigger || ')',
                    active.ndcg, new.ndcg
                from active
                inner join trainings as new on active.tenant_id = new.tenant_id
                where new.new_version_status = 'active' and new.trigger <> 'failed'
                union all
                -- a candidate still waiting when a new version was trained
                select
                    $build, new.tenant_id, new.candidate_version, 'rejected',
                    'not judged: replaced by version ' || new.version || ' (' || new.trigger
                    || ')', null, null
                from trainings as new
                where new.candidate_version is not null and new.trigger <> 'failed'
                union all
                -- the promotion gate's verdicts, and the version a promotion replaces
                select
                    $build, tenant_id, candidate_version,
                    if(verdict = 'promoted', 'active', 'rejected'), reason, candidate_ndcg,
                    active_ndcg
                from judgements
                union all
                select
                    $build, tenant_id, active_version, 'superseded',
                    'replaced by version ' || candidate_version || ' (promotion gate)',
                    active_ndcg, candidate_ndcg
                from judgements
                where verdict = 'promoted'
                union all
                -- what an operator promoted or pinned, and the version it replaces
                select
                    $build, plans.tenant_id, plans.active_version, 'active',
                    if(plans.operator_action = 'pin', 'pinned', 'promoted')
                    || ' by the operator: ' || plans.operator_why,
                    versions.ndcg, active.ndcg
                from plans
                inner join active on plans.tenant_id = active.tenant_id
                inner join {_CATALOG}.model_versions as versions
                    on plans.tenant_id = versions.tenant_id
                        and plans.active_version = versions.version
                where plans.trigger = 'operator' and plans.active_version <> active.version
                union all
                select
                    $build, active.tenant_id, active.version, 'superseded',
                    'replaced by version ' || plans.active_version || ' (operator)',
                    active.ndcg, null
                from plans
                inner join active on plans.tenant_id = active.tenant_id
                where plans.trigger = 'operator' and plans.active_version <> active.version
            ),

            -- the stored versions that may be retired: neither trained by this build, nor
            -- active or a candidate once it is published, nor pinned
            stored as (
                select
                    versions.tenant_id, versions.version, versions.trained_at,
                    builds.started_at
                from {_CATALOG}.model_registry as versions
                -- a version's id is its build's: the build's start orders versions of one clock
                inner join {_CATALOG}.builds as builds on versions.version = builds.build_id
                left join changed
                    on versions.tenant_id = changed.tenant_id
                        and versions.version = changed.version
                semi join {_CATALOG}.stored_repurchase as stored
                    on versions.tenant_id = stored.tenant_id
                        and versions.version = stored.version
                anti join new_versions as new on versions.tenant_id = new.tenant_id
                    and versions.version = new.version
                anti join ({_PINS}) as pins
                    on versions.tenant_id = pins.tenant_id and versions.version = pins.version
                where coalesce(changed.status, versions.status) not in ('active', 'candidate')
            ),

            retired as (
                select stored.tenant_id, stored.version, plans.keep_versions
                from stored
                inner join plans on stored.tenant_id = plans.tenant_id
                qualify row_number() over (
                    partition by stored.tenant_id order by stored.trained_at desc,
                    stored.started_at desc
                ) > plans.keep_versions
            )

            -- one event per version: one this build retires says both what else happened to
            -- it (superseded, rejected) and why its stored model goes
            select changed.*
            from changed
            anti join retired
                on changed.tenant_id = retired.tenant_id and changed.version = retired.version
            union all
            select
                $build, retired.tenant_id, retired.version, 'retired',
                concat_ws(
                    '; ', changed.reason,
                    'stored model deleted: more than keep_versions = ' || retired.keep_versions
                    || ' versions besides the active one'
                ),
                changed.ndcg, changed.active_ndcg
            from retired
            left join changed
                on retired.tenant_id = changed.tenant_id and retired.version = changed.version
            """,
            params={
                "build": build_id,
                "first": FIRST_VERSION,
                "erasure": ERASURE,
                "candidate": CANDIDATE,
            },
        ).to_arrow_table()
        con.register("new_events", events)
        tenants = con.sql(
            f"""
            select
                $build as build_id,
                plans.tenant_id,
                plans.mode,
                plans.trigger,
                case
                    when plans.action = 'off' then 'off'
                    when plans.trigger = 'failed' then 'failed'
                    when events.version is not null then 'promoted'
                    when plans.trigger in ('pinned', 'operator') then 'kept'
                    when plans.mode = 'freeze' then 'frozen'
                    when plans.trigger in ('promotion', 'awaiting_judgement') then 'kept'
                    when candidates.version is not null then 'kept'
                    when plans.action = 'score' or plans.carried then 'not_due'
                    else 'kept'
                end as outcome,
                case
                    when events.version is not null and plans.mode = 'freeze'
                        then events.reason || '; frozen from now on'
                    when events.version is not null then events.reason
                    when judged.version is not null then judged.reason
                    when candidates.version is not null
                        then 'trained candidate ' || candidates.version || ' (' || plans.reason
                            || '); version ' || active.version
                            || ' serves until the promotion gate judges it'
                    when plans.action = 'train' then 'nothing to train on: no interactions'
                    else plans.reason
                end as reason,
                coalesce(events.version, active.version) as version,
                plans.fit_seconds,
                plans.carried
            from plans
            left join new_events as events
                on plans.tenant_id = events.tenant_id and events.status = 'active'
            left join new_events as candidates
                on plans.tenant_id = candidates.tenant_id and candidates.status = 'candidate'
            left join new_events as judged
                on plans.tenant_id = judged.tenant_id and judged.status = 'rejected'
                    and plans.trigger = 'promotion'
            left join {_CATALOG}.model_registry as active
                on plans.tenant_id = active.tenant_id and active.status = 'active'
                    and plans.action <> 'off'
            -- a tenant left out by --tenants: this build did nothing for it
            where plans.trigger <> 'not_selected'
            """,
            params={"build": build_id},
        ).to_arrow_table()
        con.register("new_tenants", tenants)
        con.execute(
            f"""
            create temp table all_builds as
            select build_id, as_of, started_at from {_CATALOG}.published_builds
            union all
            select $build, $as_of::timestamp, now()::timestamp
            """,
            {"build": build_id, "as_of": as_of},
        )
        all_events = f"(from {_CATALOG}.registry_events union all by name from new_events)"
        con.execute(
            "create temp table registry as "
            + _REGISTRY.format(
                versions=f"(from {_CATALOG}.model_versions union all by name from new_versions)",
                events=all_events,
                builds="all_builds",
            )
        )
        con.execute(
            "create temp table history as "
            + _HISTORY.format(
                tenant_builds=f"(from {_CATALOG}.tenant_builds union all by name from new_tenants)",
                builds="all_builds",
                events=all_events,
            )
        )
        erasure_log = con.sql(
            _ERASURE_LOG.format(
                erasures=f"(from {_CATALOG}.erasures union all by name from new_erasures)",
                builds="all_builds",
            )
            + " order by tenant_id, request"
        ).to_arrow_table()
        status = con.sql(_STATUS.format(history="history", registry="registry"))
        applied = con.sql(
            "select tenant_id, operator_request_id as request_id from plans "
            "where operator_request_id is not null"
        ).to_arrow_table()
        return StateUpdate(
            versions=versions,
            forms=forms,
            applied_requests=applied,
            events=events,
            tenants=tenants,
            registry=con.sql(
                "from registry order by tenant_id, trained_at, version"
            ).to_arrow_table(),
            history=con.sql("from history order by started_at, tenant_id").to_arrow_table(),
            status=status.order("tenant_id").to_arrow_table(),
            erasures=new_erasures,
            erasure_log=erasure_log,
        )


def record_publishing(state_path: Path, build_id: str, update: StateUpdate) -> None:
    """Before the swap: what the build adds to the state - its versions with their stored
    models, their status changes, its row per tenant - and its status ``publishing``, in one
    transaction. The stored models of the versions it retired are deleted (their registry
    rows stay). A build that is then abandoned leaves its rows unread (see published_builds);
    its stored models are deleted by the next build's reconciliation."""
    with connect(state_path) as con:
        # Rows streamed in order from a parallel query are written in row groups cut short
        # (full, 8,192 rows, full...), which every later checkpoint of the state then merges a
        # hundred at a time - seconds of each build's first, last and every write. Nothing
        # reads the stored models in the order they were written.
        con.execute("set preserve_insertion_order = false")
        con.execute("begin transaction")
        tables = [
            ("tenant_builds", update.tenants),
            ("model_versions", update.versions),
            ("registry_events", update.events),
            ("erasures", update.erasures),
            *((f"stored_{form}", rows) for form, rows in update.forms.items()),
        ]
        for table, rows in tables:
            # a stored model given as a DuckDB relation of the build is streamed, not held
            con.register("new_rows", rows if isinstance(rows, pa.Table) else rows.to_arrow_reader())
            con.execute(f"insert into {table} by name from new_rows")
            con.unregister("new_rows")
        con.register("applied", update.applied_requests)
        con.execute(
            "update operator_requests as requests set build_id = ? from applied "
            "where requests.build_id is null and requests.tenant_id = applied.tenant_id "
            "and requests.request_id <= applied.request_id",
            [build_id],
        )
        con.register("new_events", update.events)
        for form in STORED_FORMS:
            con.execute(
                f"delete from stored_{form} as stored using new_events as events "
                "where events.status = 'retired' and stored.tenant_id = events.tenant_id "
                "and stored.version = events.version"
            )
        con.execute("update builds set status = 'publishing' where build_id = ?", [build_id])
        con.execute("commit")


def record_published(state_path: Path, build_id: str) -> None:
    """After the swap."""
    with connect(state_path) as con:
        con.execute(
            "update builds set status = 'published', finished_at = ? where build_id = ?",
            [_now(), build_id],
        )


#: What an operator may ask of a tenant's versions (``recsql models``).
OPERATOR_ACTIONS = ("promote", "pin", "unpin")


def request(
    state_path: Path, tenant_id: str, action: str, why: str, version: str | None = None
) -> int:
    """Record an operator's request on a tenant's versions - ``promote`` or ``pin`` a version
    (active, superseded or rejected, with its stored model), ``unpin`` - applied by the next
    build; its id. Takes the state's lock: refused while a build runs. Raises
    :class:`StateError` with what to do when the request cannot be applied."""
    if action not in OPERATOR_ACTIONS:
        raise ValueError(f"action must be one of {', '.join(OPERATOR_ACTIONS)}, got {action!r}")
    if not why.strip():
        raise StateError("Say why (--why TEXT): the reason is kept in the tenant's history.")
    if not state_path.exists():
        raise StateError(f"No state file at {state_path}: no build has used it yet.")
    with Writer(state_path), connect(state_path) as con:
        known = con.execute(
            "select version, status, exists (select 1 from stored_repurchase as stored "
            "where stored.tenant_id = registry.tenant_id and stored.version = registry.version) "
            "from model_registry as registry where tenant_id = ? order by trained_at desc",
            [tenant_id],
        ).fetchall()
        if not known:
            raise StateError(
                f"Tenant {tenant_id!r} has no version in {state_path}: it was never trained "
                "(recsql models list shows the tenants' versions)."
            )
        if action == "unpin":
            pinned = con.execute(f"select 1 from ({_PINS}) where tenant_id = ?", [tenant_id])
            if not pinned.fetchall():
                raise StateError(f"Tenant {tenant_id!r} is not pinned: nothing to unpin.")
            version = None
        else:
            statuses = {v: (status, stored) for v, status, stored in known}
            if version not in statuses:
                listed = ", ".join(f"{v} ({status})" for v, status, _ in known[:5])
                raise StateError(
                    f"Tenant {tenant_id!r} has no version {version!r}; its newest: {listed}."
                )
            status, stored = statuses[version]
            if status in ("retired", "failed") or not stored:
                raise StateError(
                    f"Version {version} of tenant {tenant_id!r} is {status} and has no stored "
                    "model: it cannot serve. Pin or promote a version that has one "
                    "(recsql models list)."
                )
        [(request_id,)] = con.execute(
            "insert into operator_requests (tenant_id, action, version, why, requested_at) "
            "values (?, ?, ?, ?, ?) returning request_id",
            [tenant_id, action, version, why.strip(), _now()],
        ).fetchall()
    return int(request_id)


def versions(state_path: Path, tenant_id: str) -> dict[str, list[dict[str, object]]]:
    """A tenant's versions, newest first (status, algorithm, clock, NDCG, reason, whether its
    model is stored and whether it is pinned), and the operators' requests on it, newest
    first (``pending``: not applied yet)."""
    with connect(state_path, read_only=True) as con:

        def rows(query: str) -> list[dict[str, object]]:
            cursor = con.execute(query, [tenant_id])
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

        return {
            "versions": rows(
                f"""
                select
                    registry.version, registry.status, registry.algorithm, registry.variant,
                    registry.trained_at, registry.data_until, registry.ndcg, registry.reason,
                    exists (
                        select 1 from stored_repurchase as stored
                        where stored.tenant_id = registry.tenant_id
                            and stored.version = registry.version
                    ) as stored,
                    pins.version is not null as pinned
                from model_registry as registry
                left join ({_PINS}) as pins
                    on registry.tenant_id = pins.tenant_id and registry.version = pins.version
                left join builds on registry.version = builds.build_id
                where registry.tenant_id = ?
                order by registry.trained_at desc, builds.started_at desc
                """
            ),
            "requests": rows(
                f"select request_id, action, version, why, requested_at, build_id, is_pending "
                f"from ({_REQUESTS}) where tenant_id = ? order by request_id desc"
            ),
        }


def published_build_id(db_path: Path) -> str | None:
    """The build id the served file carries (``build_info``), or None without one."""
    if not db_path.exists():
        return None
    try:
        con = duckdb.connect(str(db_path), read_only=True)
    except duckdb.Error:
        return None
    try:
        rows = con.execute("select build_id from recsql_data.build_info").fetchall()
    except duckdb.Error:
        return None
    finally:
        con.close()
    return rows[0][0] if rows else None


def builds(state_path: Path, limit: int = 20) -> list[dict[str, object]]:
    """The last ``limit`` builds, newest first, with the count of tenants per mode, of those
    it trained (a new version, active or candidate), of those a new version serves (promoted),
    of those it found not due, of those that kept their lists (carried: inputs unchanged) and
    of those it failed; the candidates the promotion gate rejected, and the tenants whose
    metric dropped (``ndcg_dropped``: a version the build decided on - made active, left a
    candidate, rejected - scoring a lower NDCG@k than the version active then; the build's
    JSON report has the same, with the figures)."""
    with connect(state_path, read_only=True) as con:
        cursor = con.execute(
            """
            select
                b.build_id, b.as_of, b.status, b.started_at,
                date_diff('second', b.started_at, b.finished_at) as seconds,
                count(m.tenant_id) as tenants,
                (
                    select count(*) from model_versions as v where v.version = b.build_id
                ) as trained,
                count(m.tenant_id) filter (where m.outcome = 'promoted') as promoted,
                count(m.tenant_id) filter (where m.outcome = 'not_due') as not_due,
                count(m.tenant_id) filter (where m.carried) as carried,
                count(m.tenant_id) filter (where m.mode = 'freeze') as frozen,
                count(m.tenant_id) filter (where m.mode = 'off') as off,
                count(m.tenant_id) filter (where m.outcome = 'failed') as failed,
                (
                    select count(*) from registry_events as e
                    where e.build_id = b.build_id and e.status = 'rejected'
                ) as rejected,
                (
                    select coalesce(list(distinct e.tenant_id order by e.tenant_id), [])
                    from registry_events as e
                    where e.build_id = b.build_id and e.ndcg < e.active_ndcg
                        and e.status in ('active', 'candidate', 'rejected')
                ) as ndcg_dropped,
                b.message
            from builds as b
            left join tenant_builds as m on m.build_id = b.build_id
            group by all
            order by b.started_at desc, b.build_id desc
            limit ?
            """,
            [limit],
        )
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def as_json(rows: list[dict[str, object]]) -> str:
    return json.dumps(rows, default=str, indent=2)
