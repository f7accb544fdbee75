"""The HTTP API: ``recsql serve`` (docs/http.md).

A FastAPI application over :class:`recsql.http.served.Served` (``recsql.open`` following each
publish). Every ``/v1/tenants/{tenant}/...`` request passes :class:`Guard` first, a plain ASGI
layer that answers before the application reads anything: no or an unknown key → 401, a key of
another tenant, or of a tenant the served file does not hold → 403 (the same answer: no hint
whether the tenant exists), more requests than the key's rate → 429 with ``Retry-After``, a
body over 1 MiB → 413. Then the endpoints check their input (``k`` in 1..1000, at most 100
context items, ids of 1 to 256 characters without control characters, well-formed JSON) and
answer 4xx with a JSON error that says what is wrong, never 500.

Lists are the ones ``recsql.open`` gives (and so the SQL macros): the tenant's loaded data in
memory, no SQL per request except ``for-items``, which runs the ``recommend_for_items`` macro.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote_to_bytes

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPBearer
from pydantic import BaseModel, Field, StringConstraints
from starlette.concurrency import run_in_threadpool

from recsql import __version__
from recsql.contract import EVENT_TYPES
from recsql.http import events as event_log
from recsql.http.keys import KeyStore
from recsql.http.served import Served
from recsql.serving import Recommendations, Recommender, RecsqlError

#: Limits of a request (docs/http.md).
MAX_K = 1000
MAX_CONTEXT_ITEMS = 100
MAX_RANKED_ITEMS = 1000
MAX_EVENTS = 1000
MAX_ID_LENGTH = 256
MAX_BODY_BYTES = 1024 * 1024
#: How many of a customer's latest events a request uses as context.
EVENT_CONTEXT_ITEMS = 10
#: The environment variable that carries the configuration to each worker process.
CONFIG_VARIABLE = "RECSQL_SERVE_CONFIG"

_CONTROL = "".join(map(chr, [*range(32), 127]))
Id = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_ID_LENGTH, pattern=r"^[^\x00-\x1f\x7f]+$"),
]
K = Annotated[int, Query(ge=1, le=MAX_K, description="list length, 1 to 1000")]
TenantId = Annotated[Id, PathParam(description="the tenant (the key's own)")]
CustomerId = Annotated[Id, PathParam()]
ItemId = Annotated[Id, PathParam()]
Country = Annotated[Id | None, Query(description="where the visitor is")]
Sender = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Receiver = Callable[[], Awaitable[MutableMapping[str, Any]]]


@dataclass(frozen=True)
class Config:
    """What ``recsql serve`` configures: the served file, the keys file, and the optional
    per-key rate limit (requests per second, per server process; None: no limit)."""

    db: Path
    keys: Path
    rate_limit: float | None = None

    def to_json(self) -> str:
        return json.dumps({"db": str(self.db), "keys": str(self.keys), "rate": self.rate_limit})

    @classmethod
    def from_json(cls, text: str) -> Config:
        values = json.loads(text)
        return cls(Path(values["db"]), Path(values["keys"]), values["rate"])


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    """The JSON error every 4xx answer carries: ``{"error": code, "message": what is wrong}``."""
    return JSONResponse({"error": code, "message": message}, status, headers=headers)


# --- the guard: keys, rate limit, body size ---------------------------------------------------


class _Bucket:
    """A token bucket: ``rate`` requests per second, bursts of up to ``rate`` (at least 1)."""

    __slots__ = ("stamp", "tokens")

    def __init__(self, capacity: float) -> None:
        self.tokens, self.stamp = capacity, time.monotonic()


class Guard:
    """ASGI middleware in front of the application: see the module docstring."""

    def __init__(self, app: Any, state: State) -> None:
        self.app, self.state = app, state
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    async def __call__(
        self, scope: MutableMapping[str, Any], receive: Receiver, send: Sender
    ) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        if refusal is None:
            refusal, receive = await self._body(scope, receive)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _refusal(self, scope: MutableMapping[str, Any]) -> Response | None:
        header = next((v for k, v in scope["headers"] if k == b"authorization"), b"").decode(
            "latin-1"
        )
        scheme, _, key = header.partition(" ")
        unauthorized = {"WWW-Authenticate": "Bearer"}
        if scheme.lower() != "bearer" or not key.strip():
            return error(
                401, "unauthorized", "no API key: send Authorization: Bearer <key>", unauthorized
            )
        tenant_id = self.state.keys.tenant_of(key.strip())
        if tenant_id is None:
            return error(401, "unauthorized", "unknown or revoked API key", unauthorized)
        # the path as sent ("path" is decoded already: an encoded "/" would split it)
        raw = scope.get("raw_path") or scope["path"].encode()
        parts = raw.split(b"?")[0].split(b"/")  # "", "v1", "tenants", tenant, ...
        asked = (
            unquote_to_bytes(parts[3]).decode(errors="replace")
            if len(parts) > 3 and parts[2] == b"tenants"
            else None
        )
        served = self.state.served.current
        if served is None:
            return error(503, "not_ready", "no published database yet", {"Retry-After": "5"})
        if asked != tenant_id or tenant_id not in served.tenant_ids:
            return error(403, "forbidden", "this key may not read this tenant")
        if self.state.config.rate_limit is not None:
            key_id = key.strip().split("_", 2)[1]  # a valid key: rsq_<key id>_<secret>
            wait = self._wait(key_id, self.state.config.rate_limit)
            if wait > 0:
                return error(
                    429,
                    "rate_limited",
                    f"more than {self.state.config.rate_limit:g} requests per second with this key",
                    {"Retry-After": str(max(1, math.ceil(wait)))},
                )
        return None

    def _wait(self, key_id: str, rate: float) -> float:
        """Seconds until the key may make a request (0: now, and it is counted)."""
        capacity = max(1.0, rate)
        with self._lock:
            bucket = self._buckets.get(key_id)
            if bucket is None:
                bucket = self._buckets[key_id] = _Bucket(capacity)
            now = time.monotonic()
            bucket.tokens = min(capacity, bucket.tokens + (now - bucket.stamp) * rate)
            bucket.stamp = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return 0.0
            return (1 - bucket.tokens) / rate

    async def _body(
        self, scope: MutableMapping[str, Any], receive: Receiver
    ) -> tuple[Response | None, Receiver]:
        """The body read whole (at most 1 MiB), and a receive that gives it to the app."""
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            return None, receive
        too_big = error(413, "body_too_large", f"the body is over {MAX_BODY_BYTES} bytes (1 MiB)")
        length = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
            return too_big, receive
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None, receive  # the client left
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > MAX_BODY_BYTES:
                return too_big, receive
            if not message.get("more_body", False):
                break
        body, given = b"".join(chunks), False

        async def replay() -> MutableMapping[str, Any]:
            nonlocal given
            if not given:
                given = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return None, replay


# --- the application --------------------------------------------------------------------------


@dataclass
class State:
    config: Config
    keys: KeyStore
    served: Served
    events: event_log.EventLog


class ItemOut(BaseModel):
    item_id: str
    rank: int
    score: float
    reason: str
    algorithm: str


class ListOut(BaseModel):
    tenant_id: str
    customer_id: str | None = None
    item_id: str | None = Field(None, description="similar: the item asked about")
    country: str | None = None
    mode: str = Field(description="the tenant's mode: on, freeze, off (off: always empty)")
    model_version: str | None
    items: list[ItemOut]
    context_items: list[str] | None = Field(
        None, description="recommendations, for-items: the context used, given and from events"
    )
    unknown_items: list[str] = Field(
        [], description="ids of the request the tenant's catalogue does not hold: ignored"
    )


class ForItemsIn(BaseModel):
    item_ids: list[Id] = Field(min_length=1, max_length=MAX_CONTEXT_ITEMS)
    k: int = Field(10, ge=1, le=MAX_K)


class RankIn(BaseModel):
    item_ids: list[Id] = Field(min_length=1, max_length=MAX_RANKED_ITEMS)


class EventIn(BaseModel):
    customer_id: Id
    item_id: Id
    event_type: str = Field("view", description=f"one of {', '.join(EVENT_TYPES)}")
    occurred_at: datetime | None = Field(
        None, description="ISO 8601; without a zone: UTC; default: when it is received"
    )
    quantity: int = Field(1, ge=1, le=1_000_000)


class EventsIn(BaseModel):
    events: list[EventIn] = Field(min_length=1, max_length=MAX_EVENTS)


class EventsOut(BaseModel):
    accepted: int


def _message(exc: RequestValidationError) -> str:
    parts = []
    for problem in exc.errors():
        where = ".".join(str(p) for p in problem.get("loc", ()) if p != "body") or "body"
        text = problem.get("msg", "invalid")
        if problem.get("type") == "json_invalid":
            return "the body is not valid JSON: " + str(problem.get("ctx", {}).get("error", text))
        if problem.get("type") == "string_pattern_mismatch":
            text = "must not contain control characters"
        parts.append(f"{where}: {text}")
    return "; ".join(parts)


#: Swagger UI's files, as the fastapi-swagger package ships them, by the name /docs/ serves.
SWAGGER_FILES = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}


def _swagger_ui(app: FastAPI) -> None:
    """``/docs``: Swagger UI over ``/openapi.json``, its script and style served from the
    installed package (FastAPI's own page loads them from a CDN, and a server may be offline)."""
    from importlib.resources import files

    resources = files("fastapi_swagger") / "resources"

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="recsql - Swagger UI",
            swagger_js_url="/docs/swagger-ui-bundle.js",
            swagger_css_url="/docs/swagger-ui.css",
            swagger_favicon_url="/docs/favicon-32x32.png",
        )

    @app.get("/docs/{name}", include_in_schema=False)
    async def docs_file(name: str) -> FileResponse:
        if name not in SWAGGER_FILES:
            raise HTTPException(404)
        path = resources / name
        return FileResponse(str(path), media_type=SWAGGER_FILES[name])


def create_app(config: Config) -> FastAPI:
    """The application for ``config`` (what each server process runs)."""
    state = State(
        config,
        KeyStore(config.keys),
        Served(config.db),
        event_log.EventLog(event_log.events_directory(config.db)),
    )
    app = FastAPI(
        title="recsql",
        version=__version__,
        description="Recommendations from a published recsql database (docs/http.md). Every "
        "/v1 request needs `Authorization: Bearer <key>` with a key of its tenant "
        "(`recsql keys create`).",
        dependencies=[Depends(HTTPBearer(auto_error=False))],  # the Authorize button of /docs
        docs_url=None,  # served below, without a CDN
        redoc_url=None,
    )
    app.state.recsql = state
    _swagger_ui(app)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        if any(p.get("type") == "json_invalid" for p in exc.errors()):
            return error(400, "malformed_json", _message(exc))
        kind = request.headers.get("content-type", "")
        if request.method == "POST" and "json" not in kind:
            return error(
                415,
                "unsupported_media_type",
                f"the body must be JSON, sent with Content-Type: application/json (not {kind!r})",
            )
        return error(422, "invalid_request", _message(exc))

    @app.exception_handler(RecsqlError)
    async def unanswerable(request: Request, exc: RecsqlError) -> Response:
        return error(404, "not_found", str(exc))

    @app.exception_handler(404)
    async def not_found(request: Request, exc: Exception) -> Response:
        return error(404, "not_found", f"no such endpoint: {request.method} {request.url.path}")

    @app.exception_handler(405)
    async def not_allowed(request: Request, exc: Exception) -> Response:
        return error(405, "method_not_allowed", f"{request.method} is not allowed here")

    async def recommender(tenant: str) -> Recommender:
        """The current build, with the tenant loaded (in a thread: loading takes a second on a
        large tenant, and the other tenants' requests go on meanwhile)."""
        served = state.served.current
        if served is None:
            raise RecsqlError("no published database yet")
        if not served.is_loaded(tenant):
            await run_in_threadpool(served.load, tenant)
        return served

    def unless_off(
        served: Recommender, tenant: str, listed: Callable[[], Recommendations]
    ) -> Recommendations:
        """The list, or none for a tenant that is off (as ``recommend`` does)."""
        return Recommendations() if served.describe(tenant).mode == "off" else listed()

    def answer(served: Recommender, tenant: str, rows: Recommendations, **fields: Any) -> Response:
        info = served.describe(tenant)
        body = {
            "tenant_id": tenant,
            **fields,
            "mode": info.mode,
            "model_version": info.model_version,
            "items": [
                {
                    "item_id": r.item_id,
                    "rank": r.rank,
                    "score": r.score,
                    "reason": r.reason,
                    "algorithm": r.algorithm,
                }
                for r in rows
            ],
        }
        return Response(json.dumps(body), media_type="application/json")

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """The process is up (no key needed)."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], responses={503: {"description": "nothing served"}})
    async def readyz() -> Response:
        """A published file is open and answering (no key needed)."""
        served = state.served.current
        if served is None:
            return error(503, "not_ready", f"no published database at {config.db} yet")
        built = served.built_as_of.isoformat() if served.built_as_of else None
        return JSONResponse({"status": "ready", "built_as_of": built})

    @app.get(
        "/v1/tenants/{tenant}/customers/{customer}/recommendations",
        response_model=ListOut,
        tags=["lists"],
    )
    async def recommendations(
        tenant: TenantId,
        customer: CustomerId,
        k: K = 10,
        context_items: Annotated[
            str | None,
            Query(description="what the customer looks at now: item ids, comma-separated, <= 100"),
        ] = None,
        country: Annotated[
            Id | None, Query(description="for a customer the tenant does not know")
        ] = None,
    ) -> Response:
        """The customer's discover list (the `recommend` macro), blended with what they look at
        now: the given context items and the items of their events since the served build."""
        given = [item for item in (context_items or "").split(",") if item]
        if len(given) > MAX_CONTEXT_ITEMS:
            return error(
                422, "invalid_request", f"context_items: more than {MAX_CONTEXT_ITEMS} items"
            )
        bad = [
            item for item in given if len(item) > MAX_ID_LENGTH or any(c in _CONTROL for c in item)
        ]
        if bad:
            return error(
                422,
                "invalid_request",
                f"context_items: an id is longer than {MAX_ID_LENGTH} characters or holds "
                "control characters",
            )
        served = await recommender(tenant)
        recent = state.events.recent(tenant, customer, served.built_as_of)
        context = list(dict.fromkeys([*given, *recent[:EVENT_CONTEXT_ITEMS]]))
        rows = served.recommend(tenant, customer, k, context_items=context or None, country=country)
        return answer(
            served,
            tenant,
            rows,
            customer_id=customer,
            country=country,
            context_items=context,
            unknown_items=list(rows.unknown_context_items),
        )

    @app.get(
        "/v1/tenants/{tenant}/customers/{customer}/buy-again",
        response_model=ListOut,
        tags=["lists"],
    )
    async def buy_again(tenant: TenantId, customer: CustomerId, k: K = 10) -> Response:
        """Items the customer bought, most likely to be bought again soon first (`buy_again`)."""
        served = await recommender(tenant)
        rows = unless_off(served, tenant, lambda: served.buy_again(tenant, customer, k))
        return answer(served, tenant, rows, customer_id=customer)

    @app.get(
        "/v1/tenants/{tenant}/customers/{customer}/new-for-you",
        response_model=ListOut,
        tags=["lists"],
    )
    async def new_for_you(tenant: TenantId, customer: CustomerId, k: K = 10) -> Response:
        """New items most like what the customer bought (`new_for_you`)."""
        served = await recommender(tenant)
        rows = unless_off(served, tenant, lambda: served.new_for_you(tenant, customer, k))
        return answer(served, tenant, rows, customer_id=customer)

    @app.get("/v1/tenants/{tenant}/items/{item}/similar", response_model=ListOut, tags=["lists"])
    async def similar(tenant: TenantId, item: ItemId, k: K = 10) -> Response:
        """The items most often bought with the item (`similar_items`)."""
        served = await recommender(tenant)
        rows = unless_off(served, tenant, lambda: served.similar(tenant, item, k))
        return answer(served, tenant, rows, item_id=item)

    @app.get("/v1/tenants/{tenant}/popular", response_model=ListOut, tags=["lists"])
    async def popular(
        tenant: TenantId,
        country: Country = None,
        k: K = 10,
    ) -> Response:
        """The most popular items a visitor from the country may be shown (`popular`)."""
        served = await recommender(tenant)
        rows = unless_off(served, tenant, lambda: served.popular(tenant, country, k))
        return answer(served, tenant, rows, country=country)

    @app.post(
        "/v1/tenants/{tenant}/recommendations/for-items", response_model=ListOut, tags=["lists"]
    )
    async def for_items(tenant: TenantId, body: ForItemsIn) -> Response:
        """For a cart or a session without a known customer (`recommend_for_items`)."""
        served = await recommender(tenant)
        rows = await run_in_threadpool(served.for_items, tenant, body.item_ids, body.k)
        return answer(served, tenant, rows, context_items=list(dict.fromkeys(body.item_ids)))

    @app.post(
        "/v1/tenants/{tenant}/customers/{customer}/rank", response_model=ListOut, tags=["lists"]
    )
    async def rank(tenant: TenantId, customer: CustomerId, body: RankIn) -> Response:
        """The caller's items (a search result, a category page) re-ranked for the customer,
        rules applied (`rank_items`)."""
        served = await recommender(tenant)
        rows = served.rank(tenant, customer, body.item_ids)
        return answer(
            served,
            tenant,
            rows,
            customer_id=customer,
            unknown_items=list(rows.unknown_context_items),
        )

    @app.post(
        "/v1/tenants/{tenant}/events", status_code=202, response_model=EventsOut, tags=["events"]
    )
    async def post_events(tenant: TenantId, body: EventsIn) -> Response:
        """Real-time interactions: appended to the event log the next build reads as
        interactions, and context for the customer's next recommendations at once."""
        now = datetime.now(UTC)
        logged = []
        for number, e in enumerate(body.events):
            if e.event_type not in EVENT_TYPES:
                return error(
                    422,
                    "invalid_request",
                    f"events.{number}.event_type: {e.event_type!r} is none of "
                    + ", ".join(EVENT_TYPES),
                )
            moment = e.occurred_at or now
            moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
            if moment > now + timedelta(days=1):
                return error(
                    422,
                    "invalid_request",
                    f"events.{number}.occurred_at: more than a day in the future (a build "
                    "would quarantine it)",
                )
            logged.append(
                event_log.Event(
                    tenant,
                    e.customer_id,
                    e.item_id,
                    moment.replace(tzinfo=None),
                    e.event_type,
                    e.quantity,
                )
            )
        await run_in_threadpool(state.events.append, logged)
        return JSONResponse({"accepted": len(logged)}, 202)

    guarded: Any = Guard(app, state)
    return guarded


def app_from_environment() -> FastAPI:
    """The application of a ``recsql serve`` worker process (its configuration in the
    environment variable ``RECSQL_SERVE_CONFIG``)."""
    return create_app(Config.from_json(os.environ[CONFIG_VARIABLE]))


__all__ = ["Config", "Guard", "app_from_environment", "create_app"]
