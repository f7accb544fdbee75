"""A tenant whose interactions or items end with no accepted row, or with an accepted share
below its min_accepted_share, fails the build with one line per tenant and table; and epoch
integers are read as timestamps rather than rejected (docs/contract.md)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recsql.build import BuildFailed
from tests.conftest import query, write_inputs

pytestmark = pytest.mark.slow

ITEMS = "tenant_id,item_id,name\n" + "".join(
    f"{t},i{n},Item {n}\n" for t in ("t1", "t2") for n in (1, 2)
)

TEST = "test assert_every_tenant_has_enough_accepted_input"


def failure_lines(failed: pytest.ExceptionInfo[BuildFailed]) -> list[str]:
    """The lines of the acceptance test's failure: its rows' messages."""
    lines = failed.value.failures
    start = next(i for i, line in enumerate(lines) if line.startswith(TEST))
    return [line.strip() for line in lines[start + 1 :] if line.startswith("    ")]


def interactions(rows: dict[str, tuple[int, int]]) -> str:
    """Per tenant, (good, bad) interaction rows; a bad one has an impossible date."""
    lines = ["tenant_id,customer_id,item_id,occurred_at"]
    for tenant, (good, bad) in rows.items():
        lines += [f"{tenant},c{n},i{1 + n % 2},2025-03-0{1 + n % 9}" for n in range(good)]
        lines += [f"{tenant},c{n},i1,2011-13-45" for n in range(bad)]
    return "\n".join(lines) + "\n"


def test_a_tenant_whose_items_are_all_rejected_fails_with_the_reasons(
    tmp_path: Path, build_inputs
) -> None:
    data = write_inputs(
        tmp_path / "in",
        {
            "items.csv": "item_id,price\ni1,cheap\ni2,free\ni3,cheap\n",
            "interactions.csv": "customer_id,item_id,occurred_at\n"
            "c1,i1,2025-01-01\nc2,i2,2025-01-02\nc2,i3,2025-01-03\nc3,i1,2025-01-04\n",
        },
    )
    served = tmp_path / "recsql.duckdb"
    served.write_bytes(b"the database being served")
    with pytest.raises(BuildFailed) as failed:
        build_inputs(data, served)
    assert failure_lines(failed) == [
        "tenant default: 0 of 4 interactions accepted: item not in items (4), e.g. 'i1'",
        "tenant default: 0 of 3 items accepted: unparseable price (3), e.g. 'cheap'",
    ]
    assert "nothing was published" in str(failed.value)
    assert "min_accepted_share" in str(failed.value)  # how to fix it
    assert served.read_bytes() == b"the database being served"


def test_a_tenant_below_its_min_accepted_share_fails_and_one_above_passes(
    tmp_path: Path, build_inputs
) -> None:
    data = write_inputs(
        tmp_path / "in",
        {"items.csv": ITEMS, "interactions.csv": interactions({"t1": (4, 6), "t2": (6, 4)})},
    )
    with pytest.raises(BuildFailed) as failed:
        build_inputs(data, tmp_path / "recsql.duckdb")
    assert failure_lines(failed) == [
        "tenant t1: 4 of 10 interactions accepted (40.0%, below min_accepted_share 0.5): "
        "unparseable occurred_at (6), e.g. '2011-13-45'"
    ]
    acceptance = query(
        tmp_path / "recsql.duckdb.build" / "build.duckdb",
        "select tenant_id, source_table, rows_read, rows_accepted, is_sufficient "
        "from base.input_acceptance order by all",
    )
    assert acceptance == [
        ("t1", "interactions", 10, 4, False),
        ("t1", "items", 2, 2, True),
        ("t2", "interactions", 10, 6, True),
        ("t2", "items", 2, 2, True),
    ]


def test_a_share_at_the_tenants_threshold_passes_and_an_off_tenant_needs_no_input(
    tmp_path: Path, build_inputs
) -> None:
    data = write_inputs(
        tmp_path / "in",
        {
            "tenants.csv": "tenant_id,mode,min_accepted_share\nt1,on,0.4\nt2,,\nt3,off,\n",
            "items.csv": ITEMS,
            "interactions.csv": interactions({"t1": (4, 6), "t2": (6, 4)}),
        },
    )
    result = build_inputs(data, tmp_path / "recsql.duckdb")
    assert query(
        result.db_path, "select tenant_id, mode, min_accepted_share from tenant_settings order by 1"
    ) == [("t1", "on", 0.4), ("t2", "on", 0.5), ("t3", "off", 0.5)]
    assert query(
        result.db_path,
        "select tenant_id, count(distinct customer_id) from recommendations group by all "
        "order by all",
    ) == [("t1", 4), ("t2", 6)]


def test_rows_that_name_no_tenant_being_built_are_mentioned(tmp_path: Path, build_inputs) -> None:
    """The tenants file says acme, the rows Acme: acme has no row, and the message says why."""
    data = write_inputs(
        tmp_path / "in",
        {
            "tenants.csv": "tenant_id\nacme\n",
            "items.csv": "tenant_id,item_id\nAcme,i1\nAcme,i2\n",
            "interactions.csv": "tenant_id,customer_id,item_id,occurred_at\n"
            "Acme,c1,i1,2025-01-01\nAcme,c1,i2,2025-01-02\n,c2,i1,2025-01-02\n",
        },
    )
    with pytest.raises(BuildFailed) as failed:
        build_inputs(data, tmp_path / "recsql.duckdb")
    assert failure_lines(failed) == [
        "tenant acme: 0 of 0 interactions accepted: no interactions row names this tenant, "
        "and 3 name no tenant being built: unknown tenant (2), e.g. 'Acme'",
        "tenant acme: 0 of 0 items accepted: no items row names this tenant, "
        "and 2 name no tenant being built: unknown tenant (2), e.g. 'Acme'",
    ]


def test_epoch_seconds_and_milliseconds_in_parquet_are_read_as_timestamps(
    tmp_path: Path, build_inputs
) -> None:
    """A Parquet integer column reaches staging as text ('1300000000'): read by magnitude."""
    data = tmp_path / "in"
    write_inputs(data, {"items.csv": "item_id\ni1\ni2\n"})
    seconds = [1_300_000_000, 1_300_086_400, 1_577_836_800]  # 2011-03-13 07:06:40, +1 day, 2020
    milliseconds = [1_300_000_000_000, 1_300_000_000_500, 946_684_800_000]  # ..., 2000-01-01
    pq.write_table(
        pa.table(
            {
                "customer_id": ["c1", "c1", "c2", "c2", "c3", "c3"],
                "item_id": ["i1", "i2", "i1", "i2", "i1", "i2"],
                "occurred_at": pa.array(seconds + milliseconds, pa.int64()),
            }
        ),
        data / "interactions.parquet",
    )
    result = build_inputs(data, tmp_path / "recsql.duckdb")
    assert [c.rows_quarantined for c in result.counts] == [0, 0]
    assert query(
        result.build_db,
        "select occurred_at from staging.stg_interactions order by customer_id, item_id",
    ) == [
        (datetime(2011, 3, 13, 7, 6, 40),),
        (datetime(2011, 3, 14, 7, 6, 40),),
        (datetime(2020, 1, 1),),
        (datetime(2011, 3, 13, 7, 6, 40),),
        (datetime(2011, 3, 13, 7, 6, 40, 500000),),
        (datetime(2000, 1, 1),),
    ]
