"""How recsql remembers an erasure without the id (recsql/lifecycle/erasures.py), and the
last check before a file is published: no table of it names an erased customer
(recsql/build/publish.py)."""

from __future__ import annotations

import hashlib
import hmac
import stat
from pathlib import Path

import duckdb
import pytest

from recsql.build.publish import DATA_SCHEMA, erased_customer_columns
from recsql.lifecycle import erasures


def test_the_key_is_made_once_beside_the_state_and_readable_by_its_owner_only(
    tmp_path: Path,
) -> None:
    state = tmp_path / "recsql.state.duckdb"
    key = erasures.load_key(state)
    path = erasures.key_path(state)
    assert path == tmp_path / "recsql.state.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert erasures.load_key(state) == key and len(key) == 32
    # a build without a state remembers nothing: a key of its own each time
    assert erasures.load_key(None) != erasures.load_key(None)


def test_a_damaged_key_is_refused_with_what_to_do(tmp_path: Path) -> None:
    state = tmp_path / "recsql.state.duckdb"
    erasures.key_path(state).write_text("not a key\n")
    with pytest.raises(ValueError, match="delete it: the next build then retrains"):
        erasures.load_key(state)


def test_a_key_others_can_read_is_used_with_a_warning_that_says_how_to_fix_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A key file copied or checked out without its owner-only mode still works (the build
    must not lose what it remembers), and the log says so with the command that fixes it."""
    state = tmp_path / "recsql.state.duckdb"
    key = erasures.load_key(state)
    path = erasures.key_path(state)
    with caplog.at_level("WARNING", logger=erasures.__name__):
        assert erasures.load_key(state) == key
    assert caplog.messages == []
    path.chmod(0o644)
    with caplog.at_level("WARNING", logger=erasures.__name__):
        assert erasures.load_key(state) == key
    assert caplog.messages == [
        f"{path} can be read by other users (mode 644): the erasure key should be readable "
        f"by its owner only. Run: chmod 600 {path}"
    ]


def test_a_request_key_is_the_hmac_of_tenant_and_id() -> None:
    key = bytes(range(32))
    expected = hmac.new(key, b"t1\x1fc9", hashlib.sha256).hexdigest()
    assert erasures.request_key(key, "t1", "c9") == expected
    # the tenant is part of it, and the separator keeps ("t1", "c9") from ("t1c", "9")
    assert erasures.request_key(key, "t2", "c9") != expected
    assert erasures.request_key(key, "t1c", "9") != erasures.request_key(key, "t1", "c9")
    # the function a build computes them with in SQL gives the same
    con = duckdb.connect()
    erasures.define_function(con, key)
    erasures.define_function(con, key)  # once per database
    assert con.sql(f"select {erasures.FUNCTION}('t1', 'c9')").fetchall() == [(expected,)]


def test_the_gate_finds_an_erased_customer_in_any_customer_column_of_any_table(
    tmp_path: Path,
) -> None:
    staged = tmp_path / "next.duckdb"
    con = duckdb.connect(str(staged))
    con.execute(f"create schema {DATA_SCHEMA}")
    con.execute(
        f"""
        -- c9 of t1 is erased; c9 of t2 is not
        create table {DATA_SCHEMA}.lists as
            select * from (values ('t1', 'c1', 'i1'), ('t1', 'c9', 'i2'), ('t2', 'c9', 'i1'))
            as v (tenant_id, customer_id, item_id);
        create table {DATA_SCHEMA}.others as
            select * from (values ('t2', 'c9'), ('t1', 'c1')) as v (tenant_id, customer_id);
        -- a new table, a new column name: found by its name, of any tenant without tenant_id
        create table {DATA_SCHEMA}.referrals as
            select * from (values ('c1', 'c9'), ('c9', 'c1')) as v (customer, referred_customer);
        -- an item whose id happens to be an erased customer's: not a customer column
        create table {DATA_SCHEMA}.items as select 't1' as tenant_id, 'c9' as item_id;
        """
    )
    con.close()
    build = duckdb.connect()
    erased = build.sql("select 't1' as tenant_id, 'c9' as customer_id")
    assert erased_customer_columns(build, staged, erased) == [
        ("lists", "customer_id", 1),
        ("referrals", "customer", 1),
        ("referrals", "referred_customer", 1),
    ]
    nobody = build.sql("select 't3' as tenant_id, 'c9' as customer_id")
    assert erased_customer_columns(build, staged, nobody) == [
        ("referrals", "customer", 1),
        ("referrals", "referred_customer", 1),
    ]
