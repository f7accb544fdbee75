"""A served file is updated in place - a copy of it in which only the tenants' rows that
changed are replaced - when it has the layout this recsql writes and few of its rows were
replaced since it was last written in full (recsql/build/publish.py, write_database); else it
is written in full. Either way it holds the same rows."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recsql.build import build, publish
from recsql.build.publish import INFO_TABLE, Kept, Published, write_database
from recsql.datasets.generator import generate
from tests.conftest import query


def _lists(con: duckdb.DuckDBPyConnection, rows: list[tuple[str | None, int, str]]) -> Published:
    values = ", ".join(
        f"({'null' if tenant is None else repr(tenant)}, {rank}, {item!r})"
        for tenant, rank, item in rows
    )
    return Published(
        con.sql(f"select * from (values {values}) as t(tenant_id, rank, item_id)"),
        "tenant_id nulls first, rank",
    )


def _tables(con: duckdb.DuckDBPyConnection, rows: list[tuple[str | None, int, str]]) -> dict:
    return {"lists": _lists(con, rows), "info": Published(con.sql("select 7 as answer"))}


#: The served file's views (the real ones need every table of a build)
OBJECTS = ("create view lists as select * from recsql_data.lists",)


def _write(con: duckdb.DuckDBPyConnection, tables: dict, path: Path, **options: object) -> str:
    return write_database(con, tables, path, objects=OBJECTS, **options)  # type: ignore[arg-type]


NIGHT_1 = [("t1", 1, "a"), ("t1", 2, "b"), ("t2", 1, "c"), (None, 1, "z")]
# t2's list changed, t3 is new, t1 and the row without a tenant are as they were
NIGHT_2 = [("t1", 1, "a"), ("t1", 2, "b"), ("t2", 1, "d"), ("t3", 1, "e"), (None, 1, "z")]


def test_only_the_tenants_whose_rows_changed_are_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(publish, "MAX_REPLACED_SHARE", 0.5)  # a third of these tiny tables
    con = duckdb.connect()
    first, second = tmp_path / "first.duckdb", tmp_path / "second.duckdb"
    assert _write(con, _tables(con, NIGHT_1), first) == "written in full"
    how = _write(con, _tables(con, NIGHT_2), second, previous=first)
    # t2's row and the one row of the table without tenants (written again) of 6
    assert how == "updated in place: 2 of 6 rows replaced (33% since it was written in full)"
    assert sorted(query(second, "select * from recsql_data.lists"), key=repr) == sorted(
        NIGHT_2, key=repr
    )
    assert query(second, "select answer from recsql_data.info") == [(7,)]
    [(share,)] = query(second, f"select replaced_share from recsql_data.{INFO_TABLE}")
    assert share == pytest.approx(2 / 6)
    # the views and macros of the served file came with the copy
    assert query(second, "select count(*) from lists") == [(5,)]


def test_a_table_replaced_by_row_replaces_only_the_rows_of_a_tenant_that_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a table marked by_row the rows of a changed tenant are matched by their hash, as
    many times as they are there: t1's one changed row is replaced, not its three; t2's row
    that was there twice and is now once is replaced (both deleted, one inserted)."""
    monkeypatch.setattr(publish, "MAX_REPLACED_SHARE", 1.0)
    con = duckdb.connect()
    first, second = tmp_path / "first.duckdb", tmp_path / "second.duckdb"
    before = [("t1", 1, "a"), ("t1", 2, "b"), ("t1", 3, "c"), ("t2", 1, "x"), ("t2", 1, "x")]
    after = [("t1", 1, "a"), ("t1", 2, "B"), ("t1", 3, "c"), ("t2", 1, "x")]

    def by_row(rows: list[tuple[str | None, int, str]]) -> dict:
        tables = _tables(con, rows)
        tables["lists"] = dataclasses.replace(tables["lists"], by_row=True)
        return tables

    _write(con, by_row(before), first)
    how = _write(con, by_row(after), second, previous=first)
    # (t1, 2, b), both (t2, 1, x) and the row of the table without tenants, of 5
    assert how == "updated in place: 4 of 5 rows replaced (80% since it was written in full)"
    assert sorted(query(second, "select * from recsql_data.lists")) == sorted(after)
    # the same tables without by_row: t1's three rows and t2's two replaced
    monkeypatch.setattr(publish, "MAX_REPLACED_SHARE", 2.0)
    how = _write(con, _tables(con, after), tmp_path / "third.duckdb", previous=first)
    assert how == "updated in place: 6 of 5 rows replaced (120% since it was written in full)"


def test_the_kept_tenants_rows_are_the_served_files_whichever_way_it_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kept tenant's rows (models/lifecycle/kept_tenants) of the tables it is kept in are
    those of the served file, whatever rows the build has of it, in place or in full."""
    monkeypatch.setattr(publish, "MAX_REPLACED_SHARE", 0.5)
    con = duckdb.connect()
    first = tmp_path / "first.duckdb"
    _write(con, _tables(con, NIGHT_1), first)
    # the build has a row of t1's that the served file has not: t1 is kept, so it stays out
    night = [("t1", 1, "x"), *NIGHT_2[2:]]
    kept = Kept(pa.table({"tenant_id": ["t1"]}), frozenset({"lists"}))
    expected = sorted([*NIGHT_1[:2], *NIGHT_2[2:]], key=repr)
    for in_place, how in (
        (True, "updated in place: 2 of 6 rows replaced (33% since it was written in full)"),
        (False, "written in full"),
    ):
        path = tmp_path / f"{in_place}.duckdb"
        assert (
            _write(con, _tables(con, night), path, previous=first, in_place=in_place, kept=kept)
            == how
        )
        assert sorted(query(path, "select * from recsql_data.lists"), key=repr) == expected
        # written in full, the kept rows are in tenant order with the others
        if not in_place:
            ordered = query(path, "select tenant_id, rank from recsql_data.lists")
            assert ordered == sorted(ordered, key=lambda r: (r[0] is not None, r))
    # kept tenants need a served file to keep their rows from
    with pytest.raises(ValueError, match=r"1 tenant\(s\) kept whole, but no served file"):
        _write(con, _tables(con, night), tmp_path / "none.duckdb", kept=kept)


def test_a_file_is_written_in_full_again_past_the_replaced_share(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(publish, "MAX_REPLACED_SHARE", 0.5)
    con = duckdb.connect()
    first, second, third = (tmp_path / f"{n}.duckdb" for n in ("first", "second", "third"))
    _write(con, _tables(con, NIGHT_1), first)
    assert _write(con, _tables(con, NIGHT_2), second, previous=first).startswith("updated")
    # a third night with the same rows (but the table without tenants): a third of the rows
    # replaced already, and another sixth now
    monkeypatch.setattr(publish, "MAX_REPLACED_SHARE", 0.4)
    assert _write(con, _tables(con, NIGHT_2), third, previous=second) == "written in full"
    assert query(third, f"select replaced_share from recsql_data.{INFO_TABLE}") == [(0.0,)]
    assert query(third, "select count(*) from recsql_data.lists") == [(5,)]


def test_a_file_of_another_layout_one_a_client_changed_or_no_database_is_written_in_full(
    tmp_path: Path,
) -> None:
    con = duckdb.connect()
    first = tmp_path / "first.duckdb"
    _write(con, _tables(con, NIGHT_1), first)
    # a column more: another layout
    wider = _tables(con, NIGHT_2)
    wider["lists"] = Published(wider["lists"].rows.project("*, 1.5 as score"), "tenant_id")
    assert _write(con, wider, tmp_path / "a.duckdb", previous=first) == "written in full"
    assert query(tmp_path / "a.duckdb", "select count(*) from recsql_data.lists") == [(5,)]
    # a client wrote to the served file: its write-ahead log is beside it
    (tmp_path / "first.duckdb.wal").write_bytes(b"")
    how = _write(con, _tables(con, NIGHT_2), tmp_path / "b.duckdb", previous=first)
    assert how == "written in full"
    # a client changed the served file's catalog: a view of its own
    changed = tmp_path / "changed.duckdb"
    shutil.copyfile(first, changed)
    client = duckdb.connect(str(changed))
    client.execute("create view mine as select 1")
    client.close()
    how = _write(con, _tables(con, NIGHT_2), tmp_path / "d.duckdb", previous=changed)
    assert how == "written in full"
    assert query(
        tmp_path / "d.duckdb", "select count(*) from duckdb_views() where view_name = 'mine'"
    ) == [(0,)]
    # not a database at all
    junk = tmp_path / "junk.duckdb"
    junk.write_bytes(b"not a database")
    how = _write(con, _tables(con, NIGHT_2), tmp_path / "c.duckdb", previous=junk)
    assert how == "written in full"
    assert query(tmp_path / "c.duckdb", "select count(*) from recsql_data.lists") == [(5,)]


# Tables whose rows name the build that wrote them, or its wall-clock times
_PER_BUILD = {"build_info", "build_history", "model_registry", "tenant_status", "erasure_log"}


def _published_rows(db: Path) -> dict[str, list[tuple]]:
    """Every table of the served file but the per-build ones: its rows, this build's id
    replaced by a placeholder and floats rounded (a sum's last bit depends on the order
    DuckDB's threads add in)."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        [(build_id,)] = con.execute("select build_id from build_info").fetchall()
        tables = [
            name
            for (name,) in con.execute(
                "select table_name from duckdb_tables() where schema_name = 'recsql_data' "
                "and table_name != ?",
                [INFO_TABLE],
            ).fetchall()
            if name not in _PER_BUILD
        ]

        def same(value: object) -> object:
            if isinstance(value, float):
                return round(value, 9)
            return "<this build>" if value == build_id else value

        return {
            table: sorted(
                (
                    tuple(same(v) for v in row)
                    for row in con.execute(f"select * from recsql_data.{table}").fetchall()
                ),
                key=repr,
            )
            for table in tables
        }
    finally:
        con.close()


@pytest.mark.slow
def test_a_night_updated_in_place_publishes_the_rows_of_one_written_in_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The night after a build, published twice from copies of it: in place (a tenant with
    new interactions, the others carried) and in full. Every table holds the same rows. The
    night after, a new erasure request has the file written in full."""
    data = tmp_path / "data"
    generate(data, tenants=8, customers=40, items=25, interactions=500, seed=11)
    # weekly retraining: the other tenants are carried tonight
    tenants = duckdb.read_parquet(str(data / "tenants.parquet"))
    pq.write_table(
        tenants.project("*, 7.0 as retrain_every_days").to_arrow_table(),
        data / "tenants.parquet",
    )
    night1 = tmp_path / "night1"
    build(data, night1 / "shop.duckdb", as_of="2026-01-01")
    # t0002 bought again tonight; the other tenants' inputs are as they were
    interactions = duckdb.read_parquet(str(data / "interactions.parquet"))
    tonight = interactions.filter("tenant_id = 't0002'").limit(100)
    tonight = tonight.project("* replace (timestamp '2026-01-01 12:00' as occurred_at)")
    pq.write_table(interactions.union(tonight).to_arrow_table(), data / "interactions.parquet")
    served = {}
    for name, bound in (("in_place", publish.MAX_REPLACED_SHARE), ("in_full", 0.0)):
        monkeypatch.setattr(publish, "MAX_REPLACED_SHARE", bound)
        shutil.copytree(night1, tmp_path / name)
        db = tmp_path / name / "shop.duckdb"
        build(data, db, as_of="2026-01-02")
        [(share,)] = query(db, f"select replaced_share from recsql_data.{INFO_TABLE}")
        assert (share > 0) == (name == "in_place"), share
        served[name] = _published_rows(db)
    assert served["in_place"].keys() == served["in_full"].keys()
    for table, rows in served["in_full"].items():
        if table == "erased_customers":  # salted at random per tenant and build: their tenants
            rows = [row[:1] for row in rows]
            served["in_place"][table] = [row[:1] for row in served["in_place"][table]]
        assert served["in_place"][table] == rows, table
    # a third night applies an erasure request no build applied before: in full (the rows an
    # update in place deletes keep their bytes in the file)
    requests = duckdb.read_parquet(str(data / "erasure_requests.parquet"))
    request = duckdb.sql(
        "select tenant_id, customer_id, timestamp '2026-01-02 08:00' as requested_at "
        "from read_parquet(?) where tenant_id = 't0003' "
        "and customer_id not in (select customer_id from read_parquet(?)) limit 1",
        params=[str(data / "interactions.parquet"), str(data / "erasure_requests.parquet")],
    )
    pq.write_table(requests.union(request).to_arrow_table(), data / "erasure_requests.parquet")
    db = tmp_path / "in_place" / "shop.duckdb"
    monkeypatch.setattr(publish, "MAX_REPLACED_SHARE", 1.0)  # the erasure alone decides
    build(data, db, as_of="2026-01-03")
    assert query(db, f"select replaced_share from recsql_data.{INFO_TABLE}") == [(0.0,)]
