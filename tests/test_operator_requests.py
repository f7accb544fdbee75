"""Operators in command (docs/lifecycle.md, "Operators in command"; issue 12, point 5):
`recsql models promote|pin|unpin --state PATH --tenant T [--version V] --why TEXT`, applied by
the next build, on versions the promotion gate rejected.

One walk of eight nights on a generated world of two tenants, both `on`, retrained nightly
(retrain_every_days 1), their champion forced to popularity (so that the test knows what each
version serves), judged on 6 customers and keeping one stored model besides the active and the
pinned one (keep_versions 1). Nights 1-3 make each tenant a candidate the gate rejects, as
tests/test_lifecycle_nights.py does (night 6): a burst of buyers of the last of the tenant's
served popular items trains a candidate that ranks it first; then six customers buy what the
active version lists first for them, and the candidate does not. Then t0001 is promoted by
hand and t0002 pinned:

- night 4: t0001's rejected version, promoted, and t0002's, pinned, serve;
- night 5: the same age would retrain both: t0001 is retrained (a candidate), t0002, pinned, is
  not;
- night 6: t0001 is promoted back to its superseded first version; an erasure request retrains
  the pinned t0002 (its new version serves, it stays pinned);
- night 7: another erasure for t0002: keep_versions 1 retires an older version, never the
  pinned one;
- night 8: t0002 unpinned: its triggers retrain it again, and retention reaches the version it
  was pinned to.

Builds run in this process (as the nights test does); the operators' requests and listings go
through the `recsql` command, with `--state`.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest

from recsql.datasets.generator import generate
from recsql.lifecycle import state
from tests.conftest import query, run_recsql
from tests.test_lifecycle_nights import (
    _append,
    _bought,
    _buy,
    _history,
    _lists,
    _ndcg,
    _night,
    _popularity,
    _registry,
    _report,
    _tenants,
)

pytestmark = pytest.mark.slow

#: t0001 is promoted by hand, t0002 pinned.
PROMOTED, PINNED = TENANTS = ("t0001", "t0002")
NIGHTS = tuple(f"2026-01-0{day}" for day in range(1, 9))
#: The served rows that carry the version that made them.
VERSIONED = ("recommendations", "buy_again", "recsql_data.visitor_popular_items")


@dataclass
class Walk:
    """What the nights left: a copy of the served file after each night, the build ids, the
    state's view of each tenant's versions after each night, the requests' outputs."""

    nights: dict[str, Path] = field(default_factory=dict)
    build_ids: dict[str, str] = field(default_factory=dict)
    #: night -> tenant -> version -> row of `recsql models list` (state.versions)
    versions: dict[str, dict[str, dict[str, dict]]] = field(default_factory=dict)
    first: dict[str, str] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)
    rising: dict[str, str] = field(default_factory=dict)
    rankings: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    #: tenant -> (candidate's, active version's) NDCG the gate must measure, and k
    gate: dict[str, tuple[list[float], int]] = field(default_factory=dict)
    requests: dict[str, subprocess.CompletedProcess[str]] = field(default_factory=dict)
    #: `recsql models list --json` right after the first requests, and after the last night
    waiting: dict[str, dict] = field(default_factory=dict)
    listed: dict[str, dict] = field(default_factory=dict)
    #: `recsql models pin` of t0002's versions retired by night 8
    refused: list[subprocess.CompletedProcess[str]] = field(default_factory=list)
    erased: list[str] = field(default_factory=list)


def _served_popularity(db: Path, tenant: str) -> list[str]:
    """The tenant's popular items (the whole tenant, not a country), as served."""
    rows = query(
        db,
        "select item_id from popular_items where tenant_id = ? and country is null order by rank",
        [tenant],
    )
    return [item for (item,) in rows]


@pytest.fixture(scope="module")
def walk(tmp_path_factory: pytest.TempPathFactory) -> Walk:
    root = tmp_path_factory.mktemp("operators")
    data = root / "data"
    generate(data, tenants=2, customers=80, items=40, interactions=1500, seed=11)
    _tenants(
        data,
        algorithm=dict.fromkeys(TENANTS, "popularity"),
        promotion_min_customers=dict.fromkeys(TENANTS, 6),
        keep_versions=dict.fromkeys(TENANTS, 1),
    )
    db = root / "shop.duckdb"
    state_path = db.with_name("shop.state.duckdb")
    walk = Walk()

    def night(as_of: str, retrain: str = "due") -> Path:
        served = _night(data, db, as_of, retrain=retrain)
        walk.nights[as_of] = served
        [(walk.build_ids[as_of],)] = query(served, "select build_id from build_info")
        walk.versions[as_of] = {
            t: {row["version"]: row for row in state.versions(state_path, t)["versions"]}
            for t in TENANTS
        }
        return served

    def models(action: str, tenant: str, *more: str) -> subprocess.CompletedProcess[str]:
        done = run_recsql("models", action, "--state", str(state_path), "--tenant", tenant, *more)
        assert done.returncode == 0, done.stderr
        return done

    # night 1: each tenant's first version; 20 customers then buy its last popular item
    night1 = night(NIGHTS[0])
    for tenant in TENANTS:
        assert _history(night1, NIGHTS[0])[tenant][:2] == ("first_version", "promoted")
        walk.first[tenant] = _history(night1, NIGHTS[0])[tenant][2]
        walk.rising[tenant] = rising = _served_popularity(night1, tenant)[-1]
        bought = _bought(night1, tenant)
        burst = sorted(c for c in bought if rising not in bought[c])[:20]
        assert len(burst) == 20
        _buy(data, tenant, [(c, rising) for c in burst], datetime(2026, 1, 1, 13))

    # night 2: each retrained (age): a candidate that ranks the rising item first
    night2 = night(NIGHTS[1])
    for tenant in TENANTS:
        v1 = walk.first[tenant]
        assert _history(night2, NIGHTS[1])[tenant] == ("age", "kept", v1)
        [(v2,)] = query(
            night2,
            "select version from model_registry where tenant_id = ? and status = 'candidate'",
            [tenant],
        )
        walk.rejected[tenant] = v2
        for version in (v1, v2):
            walk.rankings[tenant, version] = _popularity(db, tenant, version)
        assert walk.rankings[tenant, v2][0] == walk.rising[tenant]

        # six customers buy what the active version lists first for them, and the candidate
        # does not: the gate must reject the candidate
        bought = _bought(night2, tenant)
        firsts = {
            customer: [
                next(i for i in walk.rankings[tenant, v] if i not in items) for v in (v1, v2)
            ]
            for customer, items in sorted(bought.items())
        }
        chosen = [(c, active) for c, (active, candidate) in firsts.items() if active != candidate]
        chosen = chosen[:6]
        assert len(chosen) == 6
        _buy(data, tenant, chosen, datetime(2026, 1, 2, 8))
        [(k,)] = query(night2, "select k from tenant_settings where tenant_id = ?", [tenant])
        expected = [_ndcg(walk.rankings[tenant, v], bought, dict(chosen), k) for v in (v2, v1)]
        walk.gate[tenant] = (expected, k)

    # night 3: the gate rejects both candidates
    night(NIGHTS[2])

    # the operators: t0001 promoted to its rejected version, t0002 pinned to its own
    walk.requests["promote"] = models(
        "promote", PROMOTED, "--version", walk.rejected[PROMOTED], "--why", "roll forward"
    )
    walk.requests["pin"] = models(
        "pin", PINNED, "--version", walk.rejected[PINNED], "--why", "ticket 118: sold more"
    )
    walk.waiting = {t: json.loads(models("list", t, "--json").stdout)[0] for t in TENANTS}

    night(NIGHTS[3])
    night5 = night(NIGHTS[4])

    # t0001 promoted back to its first version (superseded since night 4); an erasure request
    # for a customer of the pinned t0002
    walk.requests["promote back"] = models(
        "promote", PROMOTED, "--version", walk.first[PROMOTED], "--why", "roll back"
    )
    walk.erased = sorted(_lists(night5, "recommendations", PINNED))[:2]
    for erased, day in zip(walk.erased, (5, 6), strict=True):
        _append(
            data,
            "erasure_requests",
            [{"tenant_id": PINNED, "customer_id": erased, "requested_at": datetime(2026, 1, day)}],
        )
        night(NIGHTS[day])

    walk.requests["unpin"] = models("unpin", PINNED, "--why", "ticket 118 closed")
    night(NIGHTS[7])
    # a retired version cannot be pinned back: refused, nothing recorded
    walk.refused = [
        run_recsql(
            *("models", "pin", "--state", str(state_path), "--tenant", PINNED),
            *("--version", version, "--why", "back to it"),
        )
        for version in (walk.first[PINNED], walk.rejected[PINNED])
    ]
    walk.listed = {t: json.loads(models("list", t, "--json").stdout)[0] for t in TENANTS}
    return walk


def _served_versions(db: Path, tenant: str) -> set[str]:
    """The versions the tenant's served rows carry."""
    return {
        version
        for table in VERSIONED
        for (version,) in query(
            db, f"select distinct model_version from {table} where tenant_id = ?", [tenant]
        )
    }


def _serves(walk: Walk, night: str, tenant: str, version: str) -> None:
    """``version`` serves ``tenant`` after ``night``: the one active version, the one
    tenant_status names, the one every served row carries."""
    db = walk.nights[night]
    active = query(
        db,
        "select version from model_registry where tenant_id = ? and status = 'active'",
        [tenant],
    )
    assert active == [(version,)], night
    assert query(db, "select active_version from tenant_status where tenant_id = ?", [tenant]) == [
        (version,)
    ]
    assert _served_versions(db, tenant) == {version}, night


def _statuses(walk: Walk, night: str, tenant: str) -> dict[str, tuple[str, bool, bool]]:
    """Per version of ``tenant`` after ``night``: (status, stored, pinned), as
    `recsql models list` shows them."""
    return {
        version: (row["status"], row["stored"], row["pinned"])
        for version, row in walk.versions[night][tenant].items()
    }


def test_the_gate_rejected_each_tenants_candidate(walk: Walk) -> None:
    night3 = walk.nights[NIGHTS[2]]
    for tenant in TENANTS:
        v1, v2 = walk.first[tenant], walk.rejected[tenant]
        (expected, k) = walk.gate[tenant]
        assert expected[0] < expected[1] == 1.0
        status, ndcg, active_ndcg, reason = _registry(night3, tenant, v2)
        assert status == "rejected", reason
        assert (ndcg, active_ndcg) == pytest.approx(expected)
        assert reason.startswith(f"rejected: NDCG@{k}")
        assert _history(night3, NIGHTS[2])[tenant] == ("promotion", "kept", v1)
        _serves(walk, NIGHTS[2], tenant, v1)
        # what the first version serves: the rising item last of the tenant's popular items
        assert _served_popularity(night3, tenant)[-1] == walk.rising[tenant]


def test_a_request_is_recorded_and_waits_for_the_next_build(walk: Walk) -> None:
    for action, tenant in (("promote", PROMOTED), ("pin", PINNED)):
        said = walk.requests[action].stdout
        assert f"{action} {walk.rejected[tenant]} for tenant {tenant}" in said
        assert "The next build applies it" in said
        [request] = walk.waiting[tenant]["requests"]
        assert (request["action"], request["version"], request["is_pending"]) == (
            action,
            walk.rejected[tenant],
            True,
        )
        assert request["build_id"] is None
        # nothing served changed: the rejected version is still rejected, the first one serves
        statuses = {v["version"]: v["status"] for v in walk.waiting[tenant]["versions"]}
        assert statuses == {walk.first[tenant]: "active", walk.rejected[tenant]: "rejected"}
    assert walk.waiting[PROMOTED]["requests"][0]["why"] == "roll forward"
    assert walk.waiting[PINNED]["requests"][0]["why"] == "ticket 118: sold more"


def test_promote_of_a_rejected_version_serves_it_from_the_next_build(walk: Walk) -> None:
    night4, tenant = walk.nights[NIGHTS[3]], PROMOTED
    v1, v2 = walk.first[tenant], walk.rejected[tenant]
    assert _history(night4, NIGHTS[3])[tenant] == ("operator", "promoted", v2)
    status, _, _, reason = _registry(night4, tenant, v2)
    assert (status, reason) == ("active", "promoted by the operator: roll forward")
    status, _, _, reason = _registry(night4, tenant, v1)
    assert status == "superseded" and v2 in reason
    _serves(walk, NIGHTS[3], tenant, v2)
    assert query(
        night4, "select last_outcome from tenant_status where tenant_id = ?", [tenant]
    ) == [("promoted",)]
    # what the promoted version serves: its popularity, the rising item first
    served = _served_popularity(night4, tenant)
    assert served[0] == walk.rising[tenant]
    assert served == [i for i in walk.rankings[tenant, v2] if i in served]
    # a promoted version is not pinned
    assert not any(pinned for _, _, pinned in _statuses(walk, NIGHTS[3], tenant).values())


def test_pin_of_a_rejected_version_serves_it_from_the_next_build(walk: Walk) -> None:
    night4, tenant = walk.nights[NIGHTS[3]], PINNED
    v1, v2 = walk.first[tenant], walk.rejected[tenant]
    assert _history(night4, NIGHTS[3])[tenant] == ("operator", "promoted", v2)
    status, _, _, reason = _registry(night4, tenant, v2)
    assert (status, reason) == ("active", "pinned by the operator: ticket 118: sold more")
    assert _registry(night4, tenant, v1)[0] == "superseded"
    _serves(walk, NIGHTS[3], tenant, v2)
    served = _served_popularity(night4, tenant)
    assert served[0] == walk.rising[tenant]
    assert served == [i for i in walk.rankings[tenant, v2] if i in served]
    assert _statuses(walk, NIGHTS[3], tenant) == {
        v1: ("superseded", True, False),
        v2: ("active", True, True),
    }


def test_the_triggers_go_on_after_a_promotion_and_not_while_pinned(walk: Walk) -> None:
    # night 5: both active versions are 3 days old (retrain_every_days 1): the promoted tenant
    # is retrained - a candidate, while its promoted version serves - the pinned one is not
    night5, night_id = walk.nights[NIGHTS[4]], walk.build_ids[NIGHTS[4]]
    history = _history(night5, NIGHTS[4])
    assert history[PROMOTED] == ("age", "kept", walk.rejected[PROMOTED])
    assert _registry(night5, PROMOTED, night_id)[0] == "candidate"
    assert history[PINNED] == ("pinned", "kept", walk.rejected[PINNED])
    assert query(
        night5,
        "select count(*) from model_registry where version = ? and tenant_id = ?",
        [night_id, PINNED],
    ) == [(0,)]
    assert _report(night5)["tenants_by_trigger"] == {"age": 1, "pinned": 1}
    for tenant in TENANTS:
        _serves(walk, NIGHTS[4], tenant, walk.rejected[tenant])


def test_promote_of_a_superseded_version_serves_it_and_the_triggers_go_on(walk: Walk) -> None:
    tenant = PROMOTED
    v1, v2, candidate = walk.first[tenant], walk.rejected[tenant], walk.build_ids[NIGHTS[4]]
    night6 = walk.nights[NIGHTS[5]]
    assert _history(night6, NIGHTS[5])[tenant] == ("operator", "promoted", v1)
    status, _, _, reason = _registry(night6, tenant, v1)
    assert (status, reason) == ("active", "promoted by the operator: roll back")
    assert _registry(night6, tenant, v2)[0] == "superseded"
    _serves(walk, NIGHTS[5], tenant, v1)
    # the first version's popularity again: the rising item last
    served = _served_popularity(night6, tenant)
    assert served[-1] == walk.rising[tenant]
    assert served == [i for i in walk.rankings[tenant, v1] if i in served]
    # then the automatic triggers decide again (no operator, nothing pinned): the candidate
    # of night 5 awaits the promotion gate, as docs/lifecycle.md has it
    for night in NIGHTS[6:]:
        trigger, _, version = _history(walk.nights[night], night)[tenant]
        assert (trigger, version) == ("awaiting_judgement", v1), night
    assert _registry(walk.nights[NIGHTS[7]], tenant, candidate)[0] == "candidate"


def test_a_pinned_version_is_never_retired(walk: Walk) -> None:
    tenant = PINNED
    v1, v2 = walk.first[tenant], walk.rejected[tenant]
    v6, v7 = walk.build_ids[NIGHTS[5]], walk.build_ids[NIGHTS[6]]
    # an erasure retrains even the pinned tenant: its new version serves, it stays pinned
    for night, version in ((NIGHTS[5], v6), (NIGHTS[6], v7)):
        assert _history(walk.nights[night], night)[tenant] == ("erasure", "promoted", version)
        _serves(walk, night, tenant, version)
        for erased in walk.erased[: NIGHTS.index(night) - 4]:
            assert query(
                walk.nights[night],
                "select count(*) from recommendations where tenant_id = ? and customer_id = ?",
                [tenant, erased],
            ) == [(0,)]
    # keep_versions 1 counts neither the active nor the pinned version: after night 6 the
    # first version is the one kept besides them
    assert _statuses(walk, NIGHTS[5], tenant) == {
        v1: ("superseded", True, False),
        v2: ("superseded", True, True),
        v6: ("active", True, False),
    }
    # after night 7, the newest other is kept and the first retired (its registry row stays);
    # the pinned version, older than the one kept, is not
    statuses = _statuses(walk, NIGHTS[6], tenant)
    assert statuses == {
        v1: ("retired", False, False),
        v2: ("superseded", True, True),
        v6: ("superseded", True, False),
        v7: ("active", True, False),
    }
    for night in NIGHTS[3:7]:
        assert _statuses(walk, night, tenant)[v2][1:] == (True, True), night


def test_unpin_lets_the_triggers_go_on(walk: Walk) -> None:
    tenant = PINNED
    v1, v2, v6, v7, v8 = (
        walk.first[tenant],
        walk.rejected[tenant],
        *(walk.build_ids[night] for night in NIGHTS[5:]),
    )
    assert f"unpin  for tenant {tenant}" in walk.requests["unpin"].stdout
    night8 = walk.nights[NIGHTS[7]]
    # night 8: the version is a day old: retrained, a candidate; the active version serves
    assert _history(night8, NIGHTS[7])[tenant] == ("age", "kept", v7)
    _serves(walk, NIGHTS[7], tenant, v7)
    # the version it was pinned to is retained no more: keep_versions 1 keeps the newest other
    assert _statuses(walk, NIGHTS[7], tenant) == {
        v1: ("retired", False, False),
        v2: ("retired", False, False),
        v6: ("superseded", True, False),
        v7: ("active", True, False),
        v8: ("candidate", True, False),
    }
    # all of it in the history: every build's trigger and outcome, and the requests with the
    # builds that applied them
    assert query(
        night8,
        "select trigger, outcome from build_history where tenant_id = ? order by as_of",
        [tenant],
    ) == [
        ("first_version", "promoted"),
        ("age", "kept"),
        ("promotion", "kept"),
        ("operator", "promoted"),
        ("pinned", "kept"),
        ("erasure", "promoted"),
        ("erasure", "promoted"),
        ("age", "kept"),
    ]
    requests = [
        (r["action"], r["version"], r["why"], r["build_id"])
        for r in walk.listed[tenant]["requests"]
    ]
    assert requests == [
        ("unpin", None, "ticket 118 closed", walk.build_ids[NIGHTS[7]]),
        ("pin", v2, "ticket 118: sold more", walk.build_ids[NIGHTS[3]]),
    ]
    requests = [
        (r["action"], r["version"], r["why"], r["build_id"])
        for r in walk.listed[PROMOTED]["requests"]
    ]
    assert requests == [
        ("promote", walk.first[PROMOTED], "roll back", walk.build_ids[NIGHTS[5]]),
        ("promote", walk.rejected[PROMOTED], "roll forward", walk.build_ids[NIGHTS[3]]),
    ]


def test_a_retired_version_cannot_be_pinned_back(walk: Walk) -> None:
    # t0002's first version, retired on night 7, and the one it was pinned to, retired once
    # unpinned: refused at once, exit status 2, naming the tenant; nothing is recorded
    for refused in walk.refused:
        assert refused.returncode == 2, refused.stdout
        assert f"of tenant '{PINNED}' is retired and has no stored model" in refused.stderr
    assert len(walk.listed[PINNED]["requests"]) == 2
