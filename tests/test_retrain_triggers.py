"""The retraining triggers `new_data` and `drift` with known answers (docs/lifecycle.md, "What a
build does for each tenant"; models/lifecycle/tenant_plans.sql, macros/plan_trigger.sql).

What an operator relies on: a tenant `on` is retrained when the interactions after its active
version's `data_until` make at least `retrain_new_data_share` of the interactions it was
trained on (`new_data`), or when the item popularity of the last `trending_days` moved at least
`retrain_drift` away from that of the version's last `trending_days` (`drift`: the total
variation distance - half the summed absolute differences - of the shares of distinct buyers
per item), and otherwise not (`not_due`); and a tenant with no interaction after its version's
`data_until` is never due by `new_data` or `drift`, whatever those thresholds, 0 included.

A hand-written world of five tenants with the same first night (100 purchases, 20 of them in
the last seven days: items i01..i04 bought by 8, 6, 4 and 2 distinct customers) and
`retrain_every_days` 365, so that age never fires; every champion is popularity (fast). Night 2
(two days later):

- tA: 25 new purchases, 25 / 100 = 0.25 of its data, `retrain_new_data_share` 0.25: at least
  the threshold (`new_data`);
- tB: 10 new purchases of i09, 10 / 100 = 0.1 below its `retrain_new_data_share` 0.2, but the
  popularity moved by 1/3, at least `retrain_drift` 0.3 (`drift`);
- tC: 2 new purchases, 2 % of its data and a drift of 3/110 = 0.027, both below the defaults
  (`not_due`);
- tD: nothing new, thresholds 0 (`not_due`: its inputs unchanged, it keeps its lists);
- tE: nothing new, thresholds 0, but its export lost the last day (the rows at its
  `data_until`): the drift measured is 1/6 > 0 and the share of new data is 0 >= 0, and still
  it is not due - only interactions after `data_until` make a tenant due by data or drift.

Only tA and tB get a new version (a candidate; the active version serves on). The world is
built from CSV files (every tenant's interactions staged) and from Parquet (a tenant whose raw
rows did not change, tD, is decided before its interactions are staged, by the same
`plan_trigger`).
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from recsql.build import BuildResult, build
from tests.conftest import AS_OF, query

pytestmark = pytest.mark.slow

TENANTS = ("tA", "tB", "tC", "tD", "tE")
NIGHT_1 = AS_OF  # 2026-01-01 00:00
NIGHT_2 = "2026-01-03 00:00:00"
TRENDING_DAYS = 7  # the default
#: The newest interaction of night 1: every tenant's version's data_until.
DATA_UNTIL = datetime(2025, 12, 31, 12)
#: When the new interactions of night 2 happen (after DATA_UNTIL, before NIGHT_2).
NEW_AT = datetime(2026, 1, 2, 10)
#: Per tenant: retrain_new_data_share, retrain_drift (None: the default, 0.1 and 0.3).
THRESHOLDS: dict[str, tuple[float | None, float | None]] = {
    "tA": (0.25, None),
    "tB": (0.2, None),
    "tC": (None, None),
    "tD": (0.0, 0.0),
    "tE": (0.0, 0.0),
}
DEFAULT_SHARE, DEFAULT_DRIFT = 0.1, 0.3

Row = tuple[str, str, datetime]  # customer, item, occurred_at


def _recent() -> list[Row]:
    """The 20 purchases of the last seven days before DATA_UNTIL: on 2025-12-30 10:00 and at
    DATA_UNTIL, each day i01 bought by 4 customers, i02 by 3, i03 by 2, i04 by 1 - every
    customer buys once, so the distinct buyers per item are 8, 6, 4, 2."""
    rows = []
    for day, customers in ((datetime(2025, 12, 30, 10), 0), (DATA_UNTIL, 10)):
        n = customers
        for item, buyers in (("i01", 4), ("i02", 3), ("i03", 2), ("i04", 1)):
            for _ in range(buyers):
                n += 1
                rows.append((f"c{n:02d}", item, day))
    return rows


def _night_1() -> list[Row]:
    """100 purchases of every tenant: 78 old ones (2025-11-01 .. 2025-12-09, 12 hours apart),
    two on 2025-12-24 00:00 (i05, i06: outside the version's last seven days, which start
    2025-12-24 12:00) and the 20 recent ones."""
    start = datetime(2025, 11, 1, 10)
    old = [
        (f"c{n % 20 + 1:02d}", f"i{n % 8 + 1:02d}", start + timedelta(hours=12 * n))
        for n in range(78)
    ]
    week_before = [("c01", "i05", datetime(2025, 12, 24)), ("c02", "i06", datetime(2025, 12, 24))]
    return old + week_before + _recent()


#: Night 2's interactions per tenant: night 1's plus or minus what the tenant got.
NIGHT_2_ROWS: dict[str, list[Row]] = {
    # 25 new purchases, a minute apart
    "tA": [
        *_night_1(),
        *((f"c{k:02d}", f"i{k % 8 + 1:02d}", NEW_AT + timedelta(minutes=k)) for k in range(1, 26)),
    ],
    # c01..c10 buy i09, which nobody bought before
    "tB": [*_night_1(), *((f"c{k:02d}", "i09", NEW_AT) for k in range(1, 11))],
    # c05 (a recent buyer of i02) buys i01, c01 (a recent buyer of i01) buys i02
    "tC": [*_night_1(), ("c05", "i01", NEW_AT), ("c01", "i02", NEW_AT)],
    "tD": _night_1(),
    # the last day's export is lost: the ten rows at DATA_UNTIL
    "tE": [row for row in _night_1() if row[2] != DATA_UNTIL],
}


def _buyers(rows: list[Row], end: datetime) -> dict[str, int]:
    """Distinct buyers per item of the trending_days up to ``end``: (end - 7 days, end]."""
    window: dict[str, set[str]] = {}
    for customer, item, at in rows:
        if end - timedelta(days=TRENDING_DAYS) < at <= end:
            window.setdefault(item, set()).add(customer)
    return {item: len(customers) for item, customers in window.items()}


def _tvd(before: dict[str, int], after: dict[str, int]) -> Fraction:
    """Total variation distance of two buyer counts' shares: half the summed absolute
    differences."""
    p = {item: Fraction(n, sum(before.values())) for item, n in before.items()}
    q = {item: Fraction(n, sum(after.values())) for item, n in after.items()}
    return sum((abs(p.get(i, 0) - q.get(i, 0)) for i in p.keys() | q.keys()), Fraction(0)) / 2


def _measures(tenant: str) -> tuple[int, Fraction, Fraction]:
    """What the docs say night 2 measures for ``tenant``: its new interactions (after
    DATA_UNTIL), their share of the 100 its version was trained on, and the drift between the
    last seven days up to its newest interaction and the seven days up to DATA_UNTIL."""
    rows = NIGHT_2_ROWS[tenant]
    new = sum(at > DATA_UNTIL for _, _, at in rows)
    latest = max(at for _, _, at in rows)
    return (
        new,
        Fraction(new, len(_night_1())),
        _tvd(_buyers(rows, DATA_UNTIL), _buyers(rows, latest)),
    )


def test_the_arithmetic_of_the_world() -> None:
    """The known answers the build must reproduce, worked out by hand: the test's own check
    that the world is the one the module docstring describes."""
    assert len(_night_1()) == 100
    assert _buyers(_night_1(), DATA_UNTIL) == {"i01": 8, "i02": 6, "i03": 4, "i04": 2}
    # tA: 25 / 100 = 0.25, exactly its threshold: new_data fires ("at least")
    assert _measures("tA")[:2] == (25, Fraction(1, 4))
    # tB: today's week (2025-12-26 10:00, 2026-01-02 10:00] holds the 20 recent buyers and the
    # ten of i09: i01..i04 shares 8/30, 6/30, 4/30, 2/30 against 8/20, 6/20, 4/20, 2/20, i09
    # 10/30 against 0. TVD = (20/20 - 20/30 + 10/30) / 2 = 1/3 >= 0.3; share 0.1 < 0.2
    assert _buyers(NIGHT_2_ROWS["tB"], NEW_AT) == {
        "i01": 8,
        "i02": 6,
        "i03": 4,
        "i04": 2,
        "i09": 10,
    }
    assert _measures("tB") == (10, Fraction(1, 10), Fraction(1, 3))
    # tC: i01 9/22, i02 7/22, i03 4/22, i04 2/22 against 8/20 .. 2/20: differences 1/110,
    # 2/110, 2/110, 1/110; TVD 3/110 = 0.027 < 0.3, share 0.02 < 0.1
    assert _measures("tC") == (2, Fraction(2, 100), Fraction(3, 110))
    # tD: nothing new, both weeks end at DATA_UNTIL
    assert _measures("tD") == (0, Fraction(0), Fraction(0))
    # tE: its newest row is now 2025-12-30 10:00; its week (2025-12-23 10:00, 12-30 10:00]
    # reaches the i05 and i06 buyers of 12-24: 4, 3, 2, 1, 1, 1 of 12 against the version's
    # week of today's rows, 4, 3, 2, 1 of 10: TVD = (10 (1/10 - 1/12) + 2/12) / 2 = 1/6
    assert _measures("tE") == (0, Fraction(0), Fraction(1, 6))


def _csv(header: str, rows: list[tuple]) -> str:
    return header + "\n" + "".join(",".join(str(v) for v in row) + "\n" for row in rows)


def _write(data: Path, fmt: str, interactions: dict[str, list[Row]]) -> None:
    """The inputs: tenants, items i01..i10 of every tenant, interactions (as ``fmt``)."""
    data.mkdir(parents=True, exist_ok=True)
    settings = [
        (t, "popularity", 365, "" if share is None else share, "" if drift is None else drift)
        for t, (share, drift) in THRESHOLDS.items()
    ]
    header = "tenant_id,algorithm,retrain_every_days,retrain_new_data_share,retrain_drift"
    (data / "tenants.csv").write_text(_csv(header, settings))
    items = [(t, f"i{n:02d}", f"Item {n}", "home") for t in TENANTS for n in range(1, 11)]
    (data / "items.csv").write_text(_csv("tenant_id,item_id,name,category", items))
    table = pa.table(
        {
            "tenant_id": [t for t in TENANTS for _ in interactions[t]],
            "customer_id": [c for t in TENANTS for c, _, _ in interactions[t]],
            "item_id": [i for t in TENANTS for _, i, _ in interactions[t]],
            "occurred_at": pa.array(
                [at for t in TENANTS for _, _, at in interactions[t]], pa.timestamp("us")
            ),
            "event_type": ["purchase"] * sum(len(rows) for rows in interactions.values()),
        }
    )
    for old in data.glob("interactions.*"):
        old.unlink()
    if fmt == "parquet":
        pq.write_table(table, data / "interactions.parquet")
    else:
        pacsv.write_csv(table, data / "interactions.csv")


class Nights:
    """The two builds of one world."""

    def __init__(self, fmt: str, night1: Path, first: BuildResult, second: BuildResult) -> None:
        #: the interactions' format; the served file after night 1 (a copy), and after night 2
        self.fmt, self.night1, self.db = fmt, night1, second.db_path
        self.first, self.second = first, second

    def history(self, as_of: str) -> dict[str, tuple]:
        """Per tenant: (trigger, outcome, version, carried, reason) of the build as of as_of."""
        rows = query(
            self.db,
            "select tenant_id, trigger, outcome, version, carried, reason from build_history "
            "where as_of = ?",
            [datetime.fromisoformat(as_of)],
        )
        return {row[0]: row[1:] for row in rows}


@pytest.fixture(scope="module", params=["csv", "parquet"])
def nights(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Nights:
    root = tmp_path_factory.mktemp(f"triggers_{request.param}")
    data, db = root / "data", root / "shop.duckdb"
    _write(data, request.param, {t: _night_1() for t in TENANTS})
    first = build(data, db, as_of=NIGHT_1, keep_build_db=True)
    night1 = shutil.copy(db, root / "night1.duckdb")
    _write(data, request.param, NIGHT_2_ROWS)
    second = build(data, db, as_of=NIGHT_2, keep_build_db=True)
    return Nights(request.param, Path(night1), first, second)


def test_night_one_trains_every_tenant_once(nights: Nights) -> None:
    """A first build trains every tenant's first version, active at once, on its 100 rows up
    to DATA_UNTIL: what the triggers of the next night measure from."""
    history = nights.history(NIGHT_1)
    assert {t: h[:2] for t, h in history.items()} == {
        t: ("first_version", "promoted") for t in TENANTS
    }
    assert sorted(
        query(
            nights.night1,
            "select tenant_id, status, data_until, interactions from model_registry",
        )
    ) == [(t, "active", DATA_UNTIL, 100) for t in TENANTS]


def test_new_data_and_drift_fire_exactly_when_documented(nights: Nights) -> None:
    """Night 2's trigger per tenant: new_data for tA (its share at least its threshold), drift
    for tB (drift at least its threshold, share below its own), not_due for tC (both below),
    and not_due for tD and tE, which have no interaction after their version's data although
    their thresholds are 0 (tE even measures a drift above 0)."""
    v1 = {t: h[2] for t, h in nights.history(NIGHT_1).items()}
    history = nights.history(NIGHT_2)
    # a candidate trained for tA and tB: the active version serves on (outcome kept)
    assert {t: h[:3] for t, h in history.items()} == {
        "tA": ("new_data", "kept", v1["tA"]),
        "tB": ("drift", "kept", v1["tB"]),
        "tC": ("not_due", "not_due", v1["tC"]),
        "tD": ("not_due", "not_due", v1["tD"]),
        "tE": ("not_due", "not_due", v1["tE"]),
    }
    # only tD's inputs are those its lists were made from: it keeps them (carried)
    assert {t: h[3] for t, h in history.items()} == {
        "tA": False,
        "tB": False,
        "tC": False,
        "tD": True,
        "tE": False,
    }
    # tenant_status says the same: the first version serves every tenant
    status = {
        t: (v, o)
        for t, v, o in query(
            nights.db, "select tenant_id, active_version, last_outcome from tenant_status"
        )
    }
    assert status == {t: (v1[t], history[t][1]) for t in TENANTS}
    # and the build's JSON report counts them
    assert nights.second.report_path is not None
    report = json.loads(nights.second.report_path.read_text())
    assert report["tenants_by_trigger"] == {"new_data": 1, "drift": 1, "not_due": 3}
    assert report["tenants_by_outcome"] == {"kept": 2, "not_due": 3}


def test_only_the_due_tenants_get_a_new_version(nights: Nights) -> None:
    """model_registry after night 2: one new version each for tA and tB - a candidate trained
    on night 2's data, judged by the promotion gate later - and none for tC, tD, tE."""
    v1 = {t: h[2] for t, h in nights.history(NIGHT_1).items()}
    rows = query(
        nights.db, "select tenant_id, version, status, data_until, interactions from model_registry"
    )
    new = sorted((t, s, until, n) for t, v, s, until, n in rows if v != v1[t])
    assert new == [
        ("tA", "candidate", NEW_AT + timedelta(minutes=25), 125),
        ("tB", "candidate", NEW_AT, 110),
    ]
    version = nights.second.build_id
    assert {v for t, v, *_ in rows if v != v1[t]} == {version}
    assert sorted((t, s) for t, v, s, *_ in rows if v == v1[t]) == [(t, "active") for t in TENANTS]


def test_the_reason_states_the_documented_measures(nights: Nights) -> None:
    """Each tenant's reason gives what the build measured, and it is the arithmetic of the
    docs: the new interactions, their share of the version's rows, the drift (to 3 places),
    each with its threshold."""
    version = {t: h[2] for t, h in nights.history(NIGHT_1).items()}
    history = nights.history(NIGHT_2)
    for tenant in TENANTS:
        new, share, drift = _measures(tenant)
        share_threshold, drift_threshold = THRESHOLDS[tenant]
        share_threshold = DEFAULT_SHARE if share_threshold is None else share_threshold
        drift_threshold = DEFAULT_DRIFT if drift_threshold is None else drift_threshold
        expected = (
            f"version {version[tenant]} is 2.0 days old (retrain_every_days 365), "
            f"{new} new interactions, {100 * float(share):.1f}% of its data "
            f"(retrain_new_data_share {share_threshold:g}), "
            f"drift {float(drift):.3f} (retrain_drift {drift_threshold:g})"
        )
        # a trained tenant's reason wraps them ("trained candidate V (...); version ... serves
        # until the promotion gate judges it"), a carried one's says why it keeps its lists
        assert expected in history[tenant][4], (tenant, history[tenant][4])


def test_the_plan_measures_are_exact(nights: Nights) -> None:
    """tenant_plans (the decision, kept in the build database) holds the measures unrounded:
    the known answers of test_the_arithmetic_of_the_world. A tenant decided before its
    interactions were staged (tD from Parquet) has the measures of one with nothing new."""
    plans = {
        t: (n, s, d, trigger, unstaged)
        for t, n, s, d, trigger, unstaged in query(
            nights.second.build_db,
            "select tenant_id, new_interactions, new_share, drift, trigger, is_unstaged "
            "from lifecycle.tenant_plans",
        )
    }
    # from Parquet, tD (nothing changed) is decided before its interactions are staged; CSV
    # interactions are streamed and staged for every tenant
    unstaged = {t for t, plan in plans.items() if plan[4]}
    assert unstaged == ({"tD"} if nights.fmt == "parquet" else set())
    for tenant in TENANTS:
        new, share, drift = _measures(tenant)
        assert plans[tenant][0] == new, tenant
        assert plans[tenant][1:3] == pytest.approx((float(share), float(drift)), abs=1e-12), tenant
    # tE: drift measured above its threshold 0, new share 0 at its threshold 0 - and not due
    assert plans["tE"][2] > THRESHOLDS["tE"][1]
    assert plans["tE"][3] == "not_due"
