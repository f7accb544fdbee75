"""Privacy: what recsql keeps of a customer who asked to be forgotten (docs/privacy.md).

A customer (c9) asked to be forgotten; the inputs still hold their rows in every table that
names customers - accepted interactions, consents and flags, and rejected rows: an unparseable
quantity, a line too malformed to split into columns, an unparseable birth date - next to
rejected rows of customers whose ids contain theirs (c90, xc9). The published quarantine
accounts for every row, shows where each rejected row is and why, and shows the values of
every row but c9's; the erasure log says what was removed, once; and no file recsql leaves -
after a build, a rebuild, a failed build, a killed build and the build after it - holds the id,
by the bytes or by any table, view or macro.
"""

from __future__ import annotations

import hmac
import json
import re
import stat
from pathlib import Path

import duckdb
import pytest

from recsql.build.publish import KILL_AT
from recsql.lifecycle import erasures
from tests.conftest import AS_OF, query, run_recsql, write_inputs

pytestmark = pytest.mark.slow

INPUTS = {
    "interactions.csv": "customer_id,item_id,occurred_at,event_type,quantity\n"
    "c1,i1,2025-01-01,purchase,1\n"
    "c2,i2,2025-01-02,purchase,1\n"
    "c2,i1,2025-01-03,purchase,1\n"
    "c9,i1,2025-01-03,purchase,1\n"  # accepted: never reaches a model
    "c9,i2,2025-01-04,purchase,three\n"  # rejected: unparseable quantity
    '"c9,i2,2025-01-05\n'  # rejected: a malformed line
    "c90,i2,2025-01-04,purchase,three\n"  # rejected, not c9's
    "xc9,i2,2025-01-04,purchase,three\n"  # rejected, not c9's
    "c3,i2,2025-01-05,purchase,1\n",  # asks to be forgotten later
    "items.csv": "item_id,name\ni1,One\ni2,Two\n",
    "customers.csv": "customer_id,country,birth_date\n"
    "c1,DE,1980-01-01\nc9,DE,not a date\nc90,DE,not a date\n",
    "consents.csv": "customer_id,personalization,marketing\nc9,true,false\nc1,true,true\n",
    "customer_flags.csv": "customer_id,flag\nc9,no_alcohol\n",
    "erasure_requests.csv": "customer_id,requested_at\nc9,2025-02-01\n",
}


#: An id no file would hold by chance: what the byte search looks for.
ERASED = "erased-4b7e1c"


def _files_holding(root: Path, needle: bytes) -> list[str]:
    return sorted(
        str(path.relative_to(root))
        for path in root.rglob("*")
        if path.is_file() and needle in path.read_bytes()
    )


def _is_duckdb_file(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(12)[8:12] == b"DUCK"


def _objects_holding(root: Path, needle: str) -> list[str]:
    """Every column of every table, every view definition and every macro of every DuckDB
    file under ``root`` that holds ``needle``, as ``file: object``. The byte search cannot
    see a value DuckDB stored compressed; this one reads every value back."""
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and _is_duckdb_file(p)):
        con = duckdb.connect()
        try:
            con.execute(f"attach '{path}' as searched (read_only)")
            where = "database_name = 'searched'"
            columns = con.execute(
                f"select schema_name, table_name, column_name from duckdb_columns() "
                f"where {where} and table_oid in "
                f"(select table_oid from duckdb_tables() where {where})"
            ).fetchall()
            for schema, table, column in columns:
                [(hits,)] = con.execute(
                    f'select count(*) from searched."{schema}"."{table}" '
                    f'where contains("{column}"::varchar, ?)',
                    [needle],
                ).fetchall()
                if hits:
                    found.append(f"{path.name}: {schema}.{table}.{column}")
            for kind, query_text in (
                (
                    "view",
                    f"select view_name from duckdb_views() where {where} and contains(sql, ?)",
                ),
                (
                    "macro",
                    "select function_name from duckdb_functions() "
                    f"where {where} and contains(macro_definition, ?)",
                ),
            ):
                found += [
                    f"{path.name}: {kind} {name}"
                    for (name,) in con.execute(query_text, [needle]).fetchall()
                ]
        finally:
            con.close()
    return found


def test_no_file_a_build_leaves_holds_an_erased_id(tmp_path: Path) -> None:
    """The served file, the state database and the build directory after a build, a
    rebuild, a build that failed and a build killed with SIGKILL followed by a good one: no
    byte of them spells the erased customer's id, and no value of any table, view or macro
    of their DuckDB files holds it. The scratch database (every input row) is deleted when
    the build ends, unless kept, and by the next build when the build was killed. The
    quarantine lists every rejected row, with the values of all but the erased customer's;
    the erasure log says, once, what the first build removed; the state remembers the
    request by a keyed hash whose key is not in the state."""
    inputs = {
        name: re.sub(r"(?<![A-Za-z0-9_])c9(?![A-Za-z0-9_])", ERASED, text)
        for name, text in INPUTS.items()
    }
    data = write_inputs(tmp_path / "data", inputs)
    out = tmp_path / "out"
    db = out / "recsql.duckdb"
    scratch = out / "recsql.duckdb.build" / "build.duckdb"
    build = ("build", "--data", str(data), "--db", str(db), "--as-of", AS_OF)

    def assert_gone(printed: str) -> None:
        assert _files_holding(out, ERASED.encode()) == []
        assert _objects_holding(out, ERASED) == []
        assert ERASED not in printed

    built = run_recsql(*build)
    assert built.returncode == 0, built.stderr
    assert db.exists() and not scratch.exists()
    assert_gone(built.stdout + built.stderr)
    # the searches can see what they look for: the served file holds the other customers
    assert _objects_holding(out, "c90") and _files_holding(out, b"c90")

    rows = query(
        db,
        "select source_table, reason, row_json, source_line from quarantined_rows "
        "order by source_table, source_line",
    )
    # every rejected row is listed where it is, with its reason ...
    assert [(table, reason, line) for table, reason, _, line in rows] == [
        ("customers", "unparseable birth_date", 3),
        ("customers", "unparseable birth_date", 4),
        ("interactions", "unparseable quantity", 6),
        ("interactions", "malformed csv line", 7),
        ("interactions", "unparseable quantity", 8),
        ("interactions", "unparseable quantity", 9),
    ]
    # ... but only the values of the customers who did not ask to be forgotten
    shown = [json.loads(row_json) for _, _, row_json, _ in rows if row_json is not None]
    assert sorted(row["customer_id"] for row in shown) == ["c90", "c90", "xc9"]
    assert [line for _, _, row_json, line in rows if row_json is None] == [3, 6, 7]
    # the accounting still holds (the build's own test checks it too)
    assert query(
        db,
        "select rows_read, rows_accepted, rows_quarantined from input_row_counts "
        "where source_table = 'interactions'",
    ) == [(9, 5, 4)]

    # the audit trail: the request, when the build applied it, and what it removed
    [(first_build,)] = query(db, "select build_id from build_info")
    log = (
        "select tenant_id, request, requested_at::varchar, applied_at::varchar, build_id, "
        "interactions_removed, customers_removed, consents_removed, customer_flags_removed, "
        "quarantined_rows_blanked from erasure_log"
    )
    applied = [
        ("default", 1, "2025-02-01 00:00:00", AS_OF, first_build, 1, 0, 1, 1, 3),
    ]
    assert query(db, log) == applied
    # the state knows the request by its keyed hash only, and the key is not in the state
    state_db = out / "recsql.state.duckdb"
    key_file = erasures.key_path(state_db)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    [(stored_key,)] = query(state_db, "select request_key from erasures")
    key = bytes.fromhex(key_file.read_text())
    assert hmac.compare_digest(stored_key, erasures.request_key(key, "default", ERASED))
    assert key_file.read_text().strip() not in state_db.read_bytes().hex()

    # a rebuild: the same, and the request is not logged again (nor retrained for)
    rebuilt = run_recsql(*build)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert_gone(rebuilt.stdout + rebuilt.stderr)
    assert query(db, log) == applied
    assert ("erasure",) not in query(db, "select distinct trigger from build_history")

    # a build that fails (a rule of every tenant with a typo) leaves no scratch database either
    (data / "rules.csv").write_text("tenant_id,rule_id,action,reason\n*,r1,exclud,a typo\n")
    failed = run_recsql(*build)
    assert failed.returncode == 2  # an input error
    assert "--keep-build-db" in failed.stderr and not scratch.exists()
    assert_gone(failed.stdout + failed.stderr)

    # kept on request, to look closer: then it holds every input row, as documented
    kept = run_recsql(*build, "--keep-build-db")
    assert kept.returncode == 2 and scratch.exists()
    assert "The build database, to look closer" in kept.stderr
    holding = _files_holding(out, ERASED.encode())
    assert holding and all(f.startswith("recsql.duckdb.build/build.duckdb") for f in holding)

    # a build killed as it publishes leaves its scratch database behind ... until the next
    (data / "rules.csv").unlink()
    killed = run_recsql(*build, env={KILL_AT: "publishing"})
    assert killed.returncode == -9
    holding = _files_holding(out, ERASED.encode())
    assert holding and all(f.startswith("recsql.duckdb.build/build.duckdb") for f in holding)
    # ... and a new request: logged once, as the tenant's second, and its version retrained
    with (data / "erasure_requests.csv").open("a") as requests:
        requests.write("c3,2025-03-01\n")
    after = run_recsql(*build)
    assert after.returncode == 0, after.stderr
    assert_gone(after.stdout + after.stderr)
    [(last_build,)] = query(db, "select build_id from build_info")
    assert query(db, log) == [
        *applied,
        ("default", 2, "2025-03-01 00:00:00", AS_OF, last_build, 1, 0, 0, 0, 0),
    ]
    assert query(db, "select trigger from build_history where build_id = ?", [last_build]) == [
        ("erasure",)
    ]


def test_the_release_gate_finds_an_erased_id_in_a_quarantined_row(
    tmp_path: Path, build_inputs
) -> None:
    """The compliance test assert_erased_customers_are_gone, run again on the build database
    after a quarantined row that names c9 was slipped in: it finds the row of c9's tenant and
    the row that names no tenant, and not a row that names c90."""
    result = build_inputs(write_inputs(tmp_path / "in", INPUTS), tmp_path / "recsql.duckdb")
    [compiled] = result.build_db.parent.glob(
        "target/compiled/**/assert_erased_customers_are_gone.sql"
    )
    gate = compiled.read_text()
    con = duckdb.connect(str(result.build_db))
    try:
        assert con.sql(gate).fetchall() == []
        for tenant, customer in (("default", "c9"), (None, "c9"), ("default", "c90")):
            con.execute(
                "insert into base.quarantined_rows (source_table, tenant_id, reason, row_json) "
                "values ('interactions', ?, 'slipped in', ?)",
                [tenant, json.dumps({"customer_id": customer, "item_id": "i1"})],
            )
        found = con.sql(gate).fetchall()
    finally:
        con.close()
    assert sorted(found, key=str) == sorted(
        [("quarantined_rows", "default", 1), ("quarantined_rows", None, 1)], key=str
    )
