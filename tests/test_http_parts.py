"""The parts of the HTTP API that need no database: the keys file, the event log, the rate
limit. (tests/test_http.py runs the server.)"""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from recsql.build import inputs
from recsql.contract import events_directory
from recsql.http import keys
from recsql.http.app import Guard
from recsql.http.events import COLUMNS, Event, EventLog
from tests.conftest import run_recsql


def test_a_key_is_stored_as_a_hash_and_finds_its_tenant(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    key = keys.create(path, "shop")
    prefix, key_id, secret = key.split("_", 2)
    assert prefix == "rsq" and len(key_id) == 12 and len(secret) >= 40
    text = path.read_text()
    assert secret not in text and key not in text and key_id in text
    store = keys.KeyStore(path)
    assert store.tenant_of(key) == "shop"
    for wrong in [f"rsq_{key_id}_{secret[:-1]}x", f"rsq_{key_id}_", "rsq__" + secret, "", key[4:]]:
        assert store.tenant_of(wrong) is None, wrong


def test_revoking_takes_effect_at_the_next_check(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    first, second = keys.create(path, "shop"), keys.create(path, "shop")
    other = keys.create(path, "other")
    store = keys.KeyStore(path)
    assert keys.revoke(path, "shop", first)[0].key_id == first.split("_")[1]
    assert store.tenant_of(first) is None and store.tenant_of(second) == "shop"
    with pytest.raises(keys.KeysError, match="no active key"):
        keys.revoke(path, "shop", first)  # already revoked
    with pytest.raises(keys.KeysError):
        keys.revoke(path, "other", second)  # not the other tenant's key
    assert [e.tenant_id for e in keys.revoke(path, "shop")] == ["shop"]  # every key left
    assert store.tenant_of(second) is None and store.tenant_of(other) == "other"
    entries = keys.read(path)
    assert [e.revoked_at is not None for e in entries] == [True, True, False]


def test_keys_created_at_once_are_all_kept(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    made: list[str] = []
    threads = [
        threading.Thread(target=lambda n=n: made.append(keys.create(path, f"t{n}")))
        for n in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    store = keys.KeyStore(path)
    assert sorted(store.tenant_of(key) or "" for key in made) == [f"t{n}" for n in range(8)]


def test_a_broken_keys_file_is_an_error_not_an_empty_one(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"keys": []}))
    with pytest.raises(keys.KeysError, match="not a recsql keys file"):
        keys.read(path)


def test_the_cli_prints_the_key_alone_on_the_last_line(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    done = run_recsql("keys", "create", "--keys", str(path), "--tenant", "shop")
    assert done.returncode == 0, done.stderr
    key = done.stdout.splitlines()[-1]
    assert keys.KeyStore(path).tenant_of(key) == "shop"
    refused = run_recsql("serve", "--keys", str(tmp_path / "none.json"), "--db", "x.duckdb")
    assert refused.returncode == 2 and "holds no key" in refused.stderr
    revoked = run_recsql("keys", "revoke", "--keys", str(path), "--tenant", "shop")
    assert revoked.returncode == 0 and keys.KeyStore(path).tenant_of(key) is None


def test_events_appended_by_one_process_are_read_by_another(tmp_path: Path) -> None:
    directory = tmp_path / "db.duckdb.events"
    writer, reader = EventLog(directory), EventLog(directory)  # two workers
    start = datetime(2026, 1, 1)
    assert reader.recent("shop", "c1", None) == []
    writer.append(
        [
            Event("shop", "c1", "a", start + timedelta(minutes=1), "view"),
            Event("shop", "c1", "b", start + timedelta(minutes=3), "cart"),
            Event("shop", "c1", "r", start + timedelta(minutes=4), "return"),
            Event("shop", "c1, with a comma", "q", start, "view"),
            Event("other", "c1", "x", start + timedelta(minutes=5), "view"),
        ]
    )
    writer.append([Event("shop", "c1", "a", start + timedelta(minutes=2), "click")])
    # most recent first, each item once, returns left out, other tenants apart
    assert reader.recent("shop", "c1", None) == ["b", "a"]
    assert reader.recent("shop", "c1", start + timedelta(minutes=2, seconds=30)) == ["b"]
    assert reader.recent("shop", "c1, with a comma", None) == ["q"]
    (file,) = directory.glob("events-*.csv")
    lines = file.read_text().splitlines()
    assert lines[0] == ",".join(COLUMNS) and len(lines) == 7  # one header
    # a line still being written is read once it is whole
    with open(file, "a") as log:
        log.write("shop,c2,z,2026-01-01 00:09:00.000000,vi")
    assert reader.recent("shop", "c2", None) == []
    with open(file, "a") as log:
        log.write("ew,1\n")
    assert reader.recent("shop", "c2", None) == ["z"]


def test_the_rate_limit_lets_a_burst_through_then_asks_to_wait() -> None:
    guard = Guard(app=None, state=None)  # type: ignore[arg-type]
    assert [guard._wait("k", 2.0) for _ in range(2)] == [0.0, 0.0]
    wait = guard._wait("k", 2.0)
    assert 0 < wait <= 0.5
    assert guard._wait("other", 2.0) == 0.0  # each key its own bucket


def test_a_build_reads_the_event_log_after_the_interactions(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "interactions.csv").write_text(
        "customer_id,item_id,occurred_at,value\nc1,i1,2025-01-01,3.5\nc2,i2,2025-01-02,\n"
    )
    db = tmp_path / "recsql.duckdb"
    log = events_directory(db)
    assert log == tmp_path / "recsql.duckdb.events"
    assert inputs.read_table(data, "interactions", events_dir=log).num_rows == 2  # no log yet
    EventLog(log).append([Event("default", "c3", "i1", datetime(2025, 1, 3), "cart", 2)])
    (log / "_notes.txt").write_text("the operator's: ignored")
    table = inputs.read_table(data, "interactions", events_dir=log).to_pylist()
    assert [r["customer_id"] for r in table] == ["c1", "c2", "c3"]
    assert [r[inputs.SOURCE_ROW] for r in table] == [1, 2, 3]  # numbered after the inputs
    logged = table[2]
    assert logged[inputs.SOURCE_FILE].startswith("recsql.duckdb.events/events-")
    assert (logged["tenant_id"], logged["event_type"], logged["quantity"]) == (
        "default",
        "cart",
        "2",
    )
    assert logged["value"] is None and logged["occurred_at"] == "2025-01-03 00:00:00.000000"
    # a file in the log that breaks the contract stops the build like any input
    (log / "events-1999-01-01.csv").write_text("tenant_id,customer_id\nx,y\n")
    with pytest.raises(inputs.ContractError, match="different columns"):
        inputs.read_table(data, "interactions", events_dir=log)
