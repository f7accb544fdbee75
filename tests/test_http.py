"""The HTTP API (``recsql serve``): a real server in a subprocess, spoken to over HTTP.

The database is the shop of the rules tests (tests/test_rules.py; its rules, consents and
erasures exercise every verdict), with tenant `other` switched off. Checked here: every list
endpoint gives what the SQL macros and ``recsql.open`` give; each key case (none, unknown,
another tenant's, a tenant that does not exist, revoked while the server runs); each bad input
answered 4xx with a JSON error; events used at once as context and read by the next build; and
a publish while clients keep asking, with no failed request.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import recsql
from recsql.build import BuildResult
from recsql.contract import events_directory
from tests.conftest import query, run_recsql
from tests.test_rules import _inputs

pytestmark = pytest.mark.slow

KNOWN = ["adult", "minor", "flagged", "french", "kitchen_only", "capped", "no_personalization"]
WITHHELD = ["opted_out", "no_marketing", "erased"]
#: A second build's clock: the server must switch to it.
LATER = "2026-01-02 00:00:00"


class Server:
    """``recsql serve`` in a subprocess on a free port of 127.0.0.1."""

    def __init__(self, db: Path, keys: Path, *extra: str) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        command = ["serve", "--db", str(db), "--keys", str(keys), "--port", str(self.port)]
        # its output goes to a file: a pipe nobody reads would stop a talkative server
        self.log = keys.with_name(f"serve-{self.port}.log")
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "recsql.cli", *command, *extra],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if self.call("GET", "/readyz")[0] == 200:
                    return
            except OSError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"the server stopped: {self.log.read_text()}")
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("the server did not get ready in 60 s")

    def call(
        self,
        method: str,
        path: str,
        key: str | None = None,
        body: Any = None,
        raw: bytes | None = None,
        connection: http.client.HTTPConnection | None = None,
    ) -> tuple[int, dict[str, str], Any]:
        """(status, headers, JSON body) of one request."""
        con = connection or http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        if body is not None or raw is not None:
            headers["Content-Type"] = "application/json"
        payload = raw if raw is not None else (json.dumps(body).encode() if body else None)
        con.request(method, path, body=payload, headers=headers)
        response = con.getresponse()
        text = response.read()
        if connection is None:
            con.close()
        return response.status, dict(response.getheaders()), json.loads(text) if text else None

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def new_key(keys: Path, tenant: str) -> str:
    done = run_recsql("keys", "create", "--keys", str(keys), "--tenant", tenant)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, build_inputs) -> BuildResult:
    root = tmp_path_factory.mktemp("http")
    data = _inputs(root)
    settings = (data / "tenants.csv").read_text().splitlines()
    rows = [settings[0] + ",mode"] + [
        f"{line},{'off' if line.startswith('other,') else 'on'}" for line in settings[1:]
    ]
    (data / "tenants.csv").write_text("\n".join(rows) + "\n")
    return build_inputs(data, root / "served" / "recsql.duckdb", keep_build_db=False)


@pytest.fixture(scope="module")
def keys(built: BuildResult) -> dict[str, Any]:
    path = built.db_path.parent.parent / "keys.json"
    return {
        "path": path,
        "shop": new_key(path, "shop"),
        "strict": new_key(path, "strict"),
        "other": new_key(path, "other"),
        "nowhere": new_key(path, "nowhere"),  # a tenant the file does not hold
    }


@pytest.fixture(scope="module")
def server(built: BuildResult, keys: dict[str, Any]) -> Iterator[Server]:
    server = Server(built.db_path, keys["path"])
    yield server
    server.stop()


def macro(
    built: BuildResult, sql: str, params: list, columns: str = "rank, item_id, score, reason"
) -> list[dict[str, Any]]:
    con_rows = query(built.db_path, f"select {columns} from {sql}", params)
    return [dict(zip(("rank", "item_id", "score", "reason"), row, strict=True)) for row in con_rows]


def listed(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {k: item[k] for k in ("rank", "item_id", "score", "reason")} for item in answer["items"]
    ]


def same(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert [(r["rank"], r["item_id"], r["reason"]) for r in got] == [
        (r["rank"], r["item_id"], r["reason"]) for r in expected
    ]
    assert [r["score"] for r in got] == pytest.approx([r["score"] for r in expected], rel=1e-9)


# --- the lists: the same as the macros and recsql.open -------------------------------------


def test_every_list_is_the_macros_list(server: Server, built: BuildResult, keys) -> None:
    key, base = keys["shop"], "/v1/tenants/shop"
    for customer in [*KNOWN, *WITHHELD, "never_seen"]:
        status, _, answer = server.call(
            "GET", f"{base}/customers/{customer}/recommendations?k=3", key
        )
        assert status == 200
        assert answer["tenant_id"] == "shop" and answer["customer_id"] == customer
        assert answer["mode"] == "on" and answer["model_version"]
        same(listed(answer), macro(built, "recommend(?, ?, 3)", ["shop", customer]))
        status, _, answer = server.call("GET", f"{base}/customers/{customer}/buy-again?k=5", key)
        same(listed(answer), macro(built, "buy_again(?, ?, 5)", ["shop", customer]))
    # the shop's one never-bought item (k4, a jug) is new: for those who buy kitchenware
    for customer in [*KNOWN, "bg0", "never_seen"]:
        status, _, answer = server.call("GET", f"{base}/customers/{customer}/new-for-you", key)
        assert status == 200
        same(listed(answer), macro(built, "new_for_you(?, ?, 10)", ["shop", customer]))
        assert customer != "bg0" or [i["item_id"] for i in answer["items"]] == ["k4"]
    visitor = server.call("GET", f"{base}/customers/never_seen/recommendations?country=FR", key)
    same(listed(visitor[2]), macro(built, "recommend(?, ?, 10, ?)", ["shop", "never_seen", "FR"]))
    assert visitor[2]["items"], "the visitor's list is not empty: the comparison means something"
    for country in ["DE", "FR", None]:
        query_string = f"?country={country}&k=4" if country else "?k=4"
        answer = server.call("GET", f"{base}/popular{query_string}", key)[2]
        same(listed(answer), macro(built, "popular(?, ?, 4)", ["shop", country]))
    for item in ["k1", "w1", "t2", "nothing"]:
        answer = server.call("GET", f"{base}/items/{item}/similar?k=3", key)[2]
        # the macro gives no reason; the API says which item they were bought with
        reasons = [f"bought with {i['item_id']}" for i in answer["items"]]
        expected = macro(
            built,
            "similar_items(?, ?, 3) as s left join items as i on i.tenant_id = s.tenant_id "
            "and i.item_id = s.item_id order by s.rank",
            ["shop", item],
            "s.rank, s.similar_item_id, s.score, 'bought with ' || i.name",
        )
        same(listed(answer), expected)
        assert item == "nothing" or answer["items"], reasons
    cart = ["k1", "t1"]
    answer = server.call(
        "POST", f"{base}/recommendations/for-items", key, {"item_ids": cart, "k": 4}
    )
    same(listed(answer[2]), macro(built, "recommend_for_items(?, ?, 4)", ["shop", cart]))
    assert answer[2]["items"]


def test_rank_is_the_macro_and_the_python_api(server: Server, built: BuildResult, keys) -> None:
    page = ["t1", "w1", "k2", "e2", "k1", "g1", "e1", "t2", "k3", "w2", "unknown-item", "k1"]
    with recsql.open(built.db_path) as api:
        for customer in [*KNOWN, *WITHHELD, "never_seen"]:
            status, _, answer = server.call(
                "POST",
                f"/v1/tenants/shop/customers/{customer}/rank",
                keys["shop"],
                {"item_ids": page},
            )
            assert status == 200
            expected = macro(built, "rank_items(?, ?, ?)", ["shop", customer, page])
            same(listed(answer), expected)
            python = [
                {"rank": r.rank, "item_id": r.item_id, "score": r.score, "reason": r.reason}
                for r in api.rank("shop", customer, page)
            ]
            same(python, expected)
            assert answer["unknown_items"] == ["unknown-item"]
            ranked = [r["item_id"] for r in answer["items"]]
            assert len(ranked) == len(set(ranked)) and set(ranked) <= set(page)
            assert "g1" not in ranked  # inactive: the rules leave it out for everyone
            if customer == "flagged":
                assert not {"w1", "w2"} & set(ranked)
            if customer in WITHHELD:
                assert ranked == []


def test_a_tenant_that_is_off_answers_empty_lists(server: Server, keys) -> None:
    for path in [
        "customers/adult/recommendations",
        "customers/adult/buy-again",
        "customers/bg0/new-for-you",
        "items/k1/similar",
        "popular",
    ]:
        status, _, answer = server.call("GET", f"/v1/tenants/other/{path}", keys["other"])
        assert status == 200 and answer["mode"] == "off" and answer["items"] == []
    status, _, answer = server.call(
        "POST", "/v1/tenants/other/customers/adult/rank", keys["other"], {"item_ids": ["k1"]}
    )
    assert status == 200 and answer["items"] == []


# --- keys ------------------------------------------------------------------------------------


def test_a_request_without_a_valid_key_of_its_tenant_is_refused(server: Server, keys) -> None:
    path = "/v1/tenants/shop/customers/adult/recommendations"
    for key in [None, "not-a-key", "rsq_000000000000_guess", keys["shop"] + "x"]:
        status, headers, answer = server.call("GET", path, key)
        assert status == 401 and headers.get("www-authenticate") == "Bearer"
        assert answer["error"] == "unauthorized"
    status, _, other = server.call("GET", path, keys["strict"])
    assert status == 403 and other["error"] == "forbidden"
    # a tenant that does not exist: the same answer as another tenant's, no hint
    status, _, missing = server.call("GET", "/v1/tenants/nowhere/popular", keys["nowhere"])
    assert status == 403 and missing == other
    status, _, missing = server.call("GET", "/v1/tenants/nowhere/popular", keys["shop"])
    assert status == 403 and missing == other
    # the tenant as the path spells it, percent-encoded or not
    assert server.call("GET", "/v1/tenants/sh%6Fp/popular", keys["shop"])[0] == 200
    assert server.call("GET", "/v1/tenants/shop%20/popular", keys["shop"])[0] == 403
    # the key is checked before the body is read: no key and a broken body is still a 401
    status, _, _ = server.call("POST", "/v1/tenants/shop/events", None, raw=b"{broken")
    assert status == 401
    for open_path in ["/healthz", "/readyz", "/openapi.json"]:
        assert server.call("GET", open_path)[0] == 200


def test_the_openapi_page_needs_nothing_from_the_internet(server: Server) -> None:
    """/docs is Swagger UI over /openapi.json, its script and style served by recsql itself
    (a server behind a firewall still shows it); no key needed."""
    con = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    con.request("GET", "/docs")
    page = con.getresponse()
    html = page.read().decode()
    assert page.status == 200 and "text/html" in page.getheader("content-type", "")
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert "/docs/swagger-ui-bundle.js" in sources and "/docs/swagger-ui.css" in sources
    assert all(s.startswith("/") for s in sources), sources  # nothing from another host
    assert "'/openapi.json'" in html or '"/openapi.json"' in html
    for source in sources:
        con.request("GET", source)
        answer = con.getresponse()
        assert answer.status == 200 and len(answer.read()) > 500, source
    con.request("GET", "/docs/../keys.json")
    answer = con.getresponse()
    answer.read()
    assert answer.status == 404
    con.close()


def test_a_revoked_key_is_refused_without_a_restart(server: Server, keys) -> None:
    key = new_key(keys["path"], "shop")
    path = "/v1/tenants/shop/popular"
    assert server.call("GET", path, key)[0] == 200
    done = run_recsql(
        "keys", "revoke", "--keys", str(keys["path"]), "--tenant", "shop", "--key", key
    )
    assert done.returncode == 0, done.stderr
    assert server.call("GET", path, key)[0] == 401
    assert server.call("GET", path, keys["shop"])[0] == 200  # the tenant's other keys still work
    # the file holds no secret (the secret may itself hold "_": split off the prefix and id only)
    assert key.split("_", 2)[2] not in keys["path"].read_text()


# --- bad input ----------------------------------------------------------------------------------


MANY_ITEMS = ",".join(f"i{n}" for n in range(101))
FOR_ITEMS, RANK, EVENTS = "recommendations/for-items", "customers/adult/rank", "events"
RECOMMEND = "customers/adult/recommendations"


def _event(**fields: str) -> dict[str, list[dict[str, str]]]:
    return {"events": [{"customer_id": "adult", "item_id": "k1", **fields}]}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "says"),
    [
        ("GET", f"{RECOMMEND}?k=0", None, 422, "k"),
        ("GET", f"{RECOMMEND}?k=1001", None, 422, "k"),
        ("GET", f"{RECOMMEND}?k=ten", None, 422, "k"),
        ("GET", "popular?k=-1", None, 422, "k"),
        ("GET", "items/k1/similar?k=5000", None, 422, "k"),
        ("GET", f"{RECOMMEND}?context_items={MANY_ITEMS}", None, 422, "context_items"),
        ("GET", "customers/" + "c" * 257 + "/recommendations", None, 422, "customer"),
        ("GET", "customers/a%0Ab/buy-again", None, 422, "control characters"),
        ("GET", f"{RECOMMEND}?context_items=k1,a%01b", None, 422, "control characters"),
        ("GET", "items/" + "i" * 300 + "/similar", None, 422, "item"),
        ("GET", "popular?country=" + "x" * 257, None, 422, "country"),
        ("POST", FOR_ITEMS, {"item_ids": MANY_ITEMS.split(",")}, 422, "item_ids"),
        ("POST", FOR_ITEMS, {"item_ids": ["k1"], "k": 0}, 422, "k"),
        ("POST", FOR_ITEMS, {"item_ids": []}, 422, "item_ids"),
        ("POST", RANK, {"item_ids": ["x" * 257]}, 422, "item_ids"),
        ("POST", RANK, {"item_ids": ["a\nb"]}, 422, "control characters"),
        ("POST", RANK, {"items": ["k1"]}, 422, "item_ids"),
        ("POST", EVENTS, _event(event_type="like"), 422, "event_type"),
        ("POST", EVENTS, _event(occurred_at="2999-01-01T00:00:00Z"), 422, "future"),
        ("POST", EVENTS, {"events": [{"customer_id": "adult"}]}, 422, "item_id"),
        ("POST", EVENTS, b'{"events": [', 400, "JSON"),
        ("POST", RANK, b"[1, 2", 400, "JSON"),
        ("POST", FOR_ITEMS, b"x" * (1024 * 1024 + 1), 413, "1 MiB"),
        ("GET", "customers/adult/nothing-here", None, 404, "no such endpoint"),
    ],
)  # fmt: skip
def test_bad_input_is_a_4xx_json_error_that_says_what_is_wrong(
    server: Server, keys, method: str, path: str, body: Any, status: int, says: str
) -> None:
    raw = body if isinstance(body, bytes) else None
    got, _, answer = server.call(
        method, f"/v1/tenants/shop/{path}", keys["shop"], None if raw else body, raw
    )
    assert got == status, answer
    assert set(answer) == {"error", "message"} and says in answer["message"]


def test_a_body_sent_without_json_content_type_is_refused(server: Server, keys) -> None:
    con = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    con.request(
        "POST",
        "/v1/tenants/shop/recommendations/for-items",
        body=b'{"item_ids": ["k1"]}',
        headers={"Authorization": f"Bearer {keys['shop']}", "Content-Type": "text/plain"},
    )
    response = con.getresponse()
    assert response.status == 415 and "application/json" in json.loads(response.read())["message"]


def test_a_key_over_its_rate_gets_429_with_retry_after(built: BuildResult, keys) -> None:
    limited = Server(built.db_path, keys["path"], "--rate-limit", "2")
    try:
        con = http.client.HTTPConnection("127.0.0.1", limited.port, timeout=30)
        answers = [
            limited.call("GET", "/v1/tenants/shop/popular", keys["shop"], connection=con)
            for _ in range(6)
        ]
        statuses = [status for status, _, _ in answers]
        assert statuses[:2] == [200, 200] and 429 in statuses
        refused = next(a for a in answers if a[0] == 429)
        assert int(refused[1]["retry-after"]) >= 1 and refused[2]["error"] == "rate_limited"
        # another key has its own budget
        assert limited.call("GET", "/v1/tenants/strict/popular", keys["strict"])[0] == 200
    finally:
        limited.stop()


# --- events, and a publish under load -----------------------------------------------------------


def test_events_are_context_at_once_and_interactions_for_the_next_build(
    server: Server, built: BuildResult, keys, build_inputs
) -> None:
    key, base = keys["shop"], "/v1/tenants/shop"
    before = server.call("GET", f"{base}/customers/adult/recommendations?k=4", key)[2]
    assert before["context_items"] == []
    status, _, answer = server.call(
        "POST",
        f"{base}/events",
        key,
        {
            "events": [
                {"customer_id": "adult", "item_id": "k2", "event_type": "cart"},
                # before the next build's clock: it reads this one as an interaction
                {"customer_id": "newcomer", "item_id": "k3", "occurred_at": "2025-12-01T10:00:00Z",
                 "event_type": "purchase", "quantity": 2},
            ]
        },
    )  # fmt: skip
    assert status == 202 and answer == {"accepted": 2}
    after = server.call("GET", f"{base}/customers/adult/recommendations?k=4", key)[2]
    assert after["context_items"] == ["k2"]
    with recsql.open(built.db_path) as api:
        expected = api.recommend("shop", "adult", 4, context_items=["k2"])
    assert [i["item_id"] for i in after["items"]] == [r.item_id for r in expected]
    assert "k2" not in [i["item_id"] for i in after["items"]]  # what they look at is not offered
    # the newcomer's purchase is in the past: not context (the served build could have read it)
    newcomer = server.call("GET", f"{base}/customers/newcomer/recommendations", key)[2]
    assert newcomer["context_items"] == []
    log = events_directory(built.db_path)
    (file,) = log.glob("events-*.csv")
    lines = file.read_text().splitlines()
    assert lines[0] == "tenant_id,customer_id,item_id,occurred_at,event_type,quantity"
    assert lines[1].startswith("shop,adult,k2,") and lines[1].endswith(",cart,1")
    assert lines[2] == "shop,newcomer,k3,2025-12-01 10:00:00.000000,purchase,2"


def test_a_publish_during_requests_fails_none_and_is_followed(
    server: Server, built: BuildResult, keys, build_inputs
) -> None:
    """Clients ask without pause while a build runs and publishes; every answer is a 200 with
    a whole list; afterwards the server answers from the new build, with the event log read."""
    key = keys["shop"]
    ready = server.call("GET", "/readyz")[2]
    failures: list[str] = []
    answered = [0]
    stop = threading.Event()

    def ask() -> None:
        con = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        n = 0
        while not stop.is_set():
            customer = KNOWN[n % len(KNOWN)]
            n += 1
            try:
                status, _, answer = server.call(
                    "GET", f"/v1/tenants/shop/customers/{customer}/recommendations?k=4", key,
                    connection=con,
                )  # fmt: skip
            except (OSError, http.client.HTTPException) as error:
                failures.append(repr(error))
                con = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
                continue
            if status != 200 or not isinstance(answer.get("items"), list):
                failures.append(f"{status} {answer}")
            answered[0] += 1
            time.sleep(0.005)

    pinned = recsql.open(built.db_path, follow_publishes=False)  # stays on the first build
    first_as_of = pinned.built_as_of
    clients = [threading.Thread(target=ask) for _ in range(2)]
    for client in clients:
        client.start()
    try:
        data = built.db_path.parent.parent / "data"  # where the fixture wrote the inputs
        result = build_inputs(data, built.db_path, as_of=LATER, keep_build_db=False)
        deadline = time.monotonic() + 30
        while server.call("GET", "/readyz")[2] == ready and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)  # and more requests on the new build
    finally:
        stop.set()
        for client in clients:
            client.join()
    assert failures == []
    assert answered[0] > 50
    assert pinned.popular("shop", "FR") and pinned.built_as_of == first_as_of
    pinned.close()
    now = server.call("GET", "/readyz")[2]
    assert now["built_as_of"] == "2026-01-02T00:00:00" != ready["built_as_of"]
    # the build read the event log: the newcomer's purchase is an interaction of the shop
    assert query(
        result.db_path,
        "select count(*) from recsql_data.customer_rule_states "
        "where tenant_id = 'shop' and customer_id = 'newcomer'",
    ) == [(1,)]
    quarantined = query(
        result.db_path,
        "select reason from quarantined_rows where source_file like 'recsql.duckdb.events/%'",
    )
    assert quarantined == [("occurred_at in the future",)]  # the cart event of today
    parity = server.call("GET", "/v1/tenants/shop/customers/adult/buy-again", key)[2]
    same(listed(parity), macro(result, "buy_again(?, ?, 10)", ["shop", "adult"]))


def test_workers_share_the_event_log(built: BuildResult, keys) -> None:
    """With two server processes, an event posted through one is context on either (which
    process accepts a connection is the kernel's choice: tests/test_http_parts.py reads one
    log from two EventLogs for certain)."""
    workers = Server(built.db_path, keys["path"], "--workers", "2")
    try:
        base, key = "/v1/tenants/shop", keys["shop"]
        event = {"events": [{"customer_id": "minor", "item_id": "k4", "event_type": "view"}]}
        assert workers.call("POST", f"{base}/events", key, event)[0] == 202
        for _ in range(12):  # a new connection each
            status, _, answer = workers.call("GET", f"{base}/customers/minor/recommendations", key)
            assert status == 200 and answer["context_items"] == ["k4"]
    finally:
        workers.stop()
