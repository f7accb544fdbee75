"""Privacy: what the published file keeps of a customer who asked to be forgotten (docs/privacy.md).

A customer (c9) asked to be forgotten; the inputs still hold their rows, some of which are
rejected - an unparseable quantity, a line too malformed to split into columns, an
unparseable birth date - next to rejected rows of customers whose ids contain theirs (c90,
xc9). The published quarantine accounts for every row, shows where each rejected row is and
why, and shows the values of every row but c9's.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

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
    "xc9,i2,2025-01-04,purchase,three\n",  # rejected, not c9's
    "items.csv": "item_id,name\ni1,One\ni2,Two\n",
    "customers.csv": "customer_id,country,birth_date\n"
    "c1,DE,1980-01-01\nc9,DE,not a date\nc90,DE,not a date\n",
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


def test_no_file_a_build_leaves_holds_an_erased_id(tmp_path: Path) -> None:
    """The served file, the state database and the build directory after a build that
    succeeded and after one that failed: no byte of them spells the erased customer's id. The
    scratch database (every input row) is deleted when the build ends, unless kept. The
    quarantine lists every rejected row, with the values of all but the erased customer's."""
    inputs = {
        name: re.sub(r"(?<![A-Za-z0-9_])c9(?![A-Za-z0-9_])", ERASED, text)
        for name, text in INPUTS.items()
    }
    data = write_inputs(tmp_path / "data", inputs)
    out = tmp_path / "out"
    db = out / "recsql.duckdb"
    scratch = out / "recsql.duckdb.build" / "build.duckdb"
    built = run_recsql("build", "--data", str(data), "--db", str(db), "--as-of", AS_OF)
    assert built.returncode == 0, built.stderr
    assert db.exists() and not scratch.exists()
    assert _files_holding(out, ERASED.encode()) == []
    assert ERASED not in built.stdout + built.stderr

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
    ) == [(8, 4, 4)]

    # a build that fails (a rule of every tenant with a typo) leaves no scratch database either
    (data / "rules.csv").write_text("tenant_id,rule_id,action,reason\n*,r1,exclud,a typo\n")
    failed = run_recsql("build", "--data", str(data), "--db", str(db), "--as-of", AS_OF)
    assert failed.returncode == 1
    assert "--keep-build-db" in failed.stderr and not scratch.exists()
    assert _files_holding(out, ERASED.encode()) == []

    # kept on request, to look closer: then it holds every input row, as documented
    kept = run_recsql(
        "build", "--data", str(data), "--db", str(db), "--as-of", AS_OF, "--keep-build-db"
    )
    assert kept.returncode == 1 and scratch.exists()
    assert "The build database, to look closer" in kept.stderr
    holding = _files_holding(out, ERASED.encode())
    assert holding and all(f.startswith("recsql.duckdb.build/build.duckdb") for f in holding)
