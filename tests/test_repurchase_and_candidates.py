"""The per-tenant Python steps of the engine: the buy-again model and the matrix candidates."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest
import threadpoolctl

from recsql.engine import candidates, journal, repurchase, workers
from recsql.engine.algorithms.ease import EASE, largest_weights

# -- buy again ------------------------------------------------------------------------------


def _features(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    occasions = rng.integers(1, 8, n)
    days_since_last = rng.uniform(0, 200, n)
    return {
        "purchase_occasions": occasions,
        "days_since_last": days_since_last,
        # as int_repurchase_features computes it, with a half-life of 30 days
        "decayed_occasions": occasions * 0.5 ** (days_since_last / 30),
        "days_since_first": rng.uniform(200, 400, n),
        "affinity": rng.uniform(0, 3, n),
        "returns": rng.integers(0, 2, n),
        "interval_ratio": rng.uniform(0, 5, n),
        "customer_occasions": occasions + rng.integers(0, 20, n),
        "customer_days_since_last": rng.uniform(0, 100, n),
        "customer_items": rng.integers(1, 50, n),
        "item_buyers": rng.integers(1, 500, n),
        "item_recent_buyers": rng.integers(0, 50, n),
        "item_repeat_rate": rng.uniform(0, 1, n),
    }


def test_the_model_learns_what_drives_repurchase() -> None:
    """Labels drawn from a known rule (recent, frequent buys come back): the model's scores
    must rank held-out rows far better than chance, and weigh recency the right way."""
    rng = np.random.default_rng(0)
    rows = _features(6000, rng)
    logit = 1.5 * np.log1p(rows["purchase_occasions"]) - 1.2 * np.log1p(rows["days_since_last"])
    labels = rng.uniform(size=6000) < 1 / (1 + np.exp(-(logit + 2)))
    x = repurchase.design_matrix(rows)
    model = repurchase.RepurchaseModel().fit(x[:4000], labels[:4000])
    scores = model.score(x[4000:])
    held_out = labels[4000:]
    # AUC: the probability that a bought-again row outranks one that was not.
    pos, neg = scores[held_out], scores[~held_out]
    auc = (pos[:, None] > neg[None, :]).mean()
    assert auc > 0.75
    days_since_last = repurchase._LOGGED.index("days_since_last") + 1  # after the intercept
    assert model.coef_[days_since_last] < 0


def _tenant(n: int, labels: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    rows = _features(n, rng)
    rows["is_bought_again"] = labels
    rows["cross_fit_group"] = np.arange(n) % 2
    return rows


def _table(tenant: str, fold: str, rows: dict[str, np.ndarray]) -> pa.Table:
    n = len(rows["affinity"])
    rows = dict(rows, tenant_id=np.full(n, tenant), fold=np.full(n, fold))
    rows.setdefault("is_bought_again", np.zeros(n, bool))
    rows.setdefault("cross_fit_group", np.arange(n) % 2)
    rows["customer_id"] = np.array([f"c{i}" for i in range(n)])
    rows["item_id"] = np.array([f"i{i}" for i in range(n)])
    return pa.table(rows)


def test_a_tenant_with_too_few_examples_falls_back_to_decayed_purchase_frequency() -> None:
    rng = np.random.default_rng(1)
    holdout = _table("a", "holdout", _tenant(50, np.arange(50) < 3, rng))  # 3 positives
    full = _table("a", "full", _features(20, rng))
    models = repurchase.fit(holdout)
    assert models.to_pylist() == [
        {
            "tenant_id": "a",
            "method": "decayed purchase frequency",
            "mean": None,
            "scale": None,
            "coef": None,
        }
    ]
    for table, scored in (
        (full, repurchase.score(full, models)),
        (holdout, repurchase.holdout_scores(holdout)),
    ):
        assert set(scored["method"].to_pylist()) == {"decayed purchase frequency"}
        np.testing.assert_array_equal(
            scored["score"].to_numpy(), table["decayed_occasions"].to_numpy()
        )


def test_a_version_stored_with_the_decayed_affinity_keeps_it() -> None:
    """A version fitted before the fixed rule was decayed purchase frequency (a frozen tenant's)
    still scores by the affinity it was stored with."""
    rng = np.random.default_rng(5)
    full = _table("a", "full", _features(20, rng))
    legacy = pa.Table.from_pylist(
        [{"tenant_id": "a", "method": "decayed affinity"}], schema=repurchase.MODELS_SCHEMA
    )
    scored = repurchase.score(full, legacy)
    np.testing.assert_array_equal(scored["score"].to_numpy(), full["affinity"].to_numpy())
    assert set(scored["method"].to_pylist()) == {"decayed affinity"}


def test_a_stored_model_scores_as_the_fitted_one() -> None:
    """What a version stores (fit) scores new rows exactly as the model it was fitted as."""
    rng = np.random.default_rng(4)
    rows = _tenant(400, rng.uniform(size=400) < 0.3, rng)
    full = _features(30, rng)
    models = repurchase.fit(_table("a", "holdout", rows))
    scored = repurchase.score(_table("a", "full", full), models)
    fitted = repurchase.RepurchaseModel().fit(
        repurchase.design_matrix(rows), rows["is_bought_again"]
    )
    np.testing.assert_allclose(
        scored["score"].to_numpy(), fitted.score(repurchase.design_matrix(full))
    )
    assert set(scored["method"].to_pylist()) == {"logistic regression"}


def test_holdout_scores_are_cross_fitted() -> None:
    """Each half of the holdout is scored by a model that never saw its labels: flipping the
    labels of half 0 must not change the scores of half 0."""
    rng = np.random.default_rng(2)
    labels = rng.uniform(size=400) < 0.3
    holdout = _tenant(400, labels, rng)
    before = repurchase._cross_fitted(holdout, 20)
    flipped = dict(
        holdout, is_bought_again=np.where(holdout["cross_fit_group"] == 0, ~labels, labels)
    )
    after = repurchase._cross_fitted(flipped, 20)
    half = holdout["cross_fit_group"] == 0
    np.testing.assert_allclose(before[half], after[half])
    assert not np.allclose(before[~half], after[~half])


def test_score_keeps_rows_and_tenants_apart() -> None:
    rng = np.random.default_rng(3)
    tables = []
    for tenant, n in (("a", 300), ("b", 40)):
        for fold in ("full", "holdout"):
            rows = _features(n, rng)
            rows["is_bought_again"] = (
                rng.uniform(size=n) < 0.3 if fold == "holdout" else np.zeros(n, bool)
            )
            rows["cross_fit_group"] = np.arange(n) % 2
            rows["tenant_id"] = np.full(n, tenant)
            rows["fold"] = np.full(n, fold)
            rows["customer_id"] = np.array([f"c{i}" for i in range(n)])
            rows["item_id"] = np.array([f"i{i}" for i in range(n)])
            tables.append(pa.table(rows))
    features = pa.concat_tables(tables)
    holdout = features.filter(pa.compute.equal(features["fold"], "holdout"))
    full = features.filter(pa.compute.equal(features["fold"], "full"))
    scored = repurchase.score(full, repurchase.fit(holdout))
    assert scored.num_rows == 340
    assert repurchase.holdout_scores(holdout).num_rows == 340
    methods = dict(
        zip(
            scored.column("tenant_id").to_pylist(), scored.column("method").to_pylist(), strict=True
        )
    )
    assert methods == {"a": "logistic regression", "b": "decayed purchase frequency"}


# -- matrix candidates ----------------------------------------------------------------------

SETTINGS = {
    "als_factors": 8,
    "als_regularization": 0.05,
    "als_alpha": 10.0,
    "als_iterations": 30,
    "ease_lambda": 1.0,
    "ease_max_items": 1000,
}


def _interactions(rows: list[tuple[str, str, str, float, int]]) -> pa.Table:
    rows = sorted(rows)
    return pa.table(
        {
            "tenant_id": [r[0] for r in rows],
            "customer_id": [r[1] for r in rows],
            "item_id": [r[2] for r in rows],
            "affinity": [r[3] for r in rows],
            "purchase_occasions": [r[4] for r in rows],
        }
    )


def _blocks(tenant: str, groups: int = 3, size: int = 4, users: int = 6) -> list[tuple]:
    """Customers of group g bought every item of g but one: that one must come first."""
    rows = []
    for g in range(groups):
        for u in range(users):
            missing = u % size
            rows += [
                (tenant, f"g{g}u{u}", f"g{g}i{i}", 1.0, 1) for i in range(size) if i != missing
            ]
    return rows


@pytest.mark.parametrize("algorithm", ["als", "ease"])
def test_each_customer_gets_the_missing_item_of_their_group_first(algorithm: str) -> None:
    interactions = _interactions(_blocks("t"))
    jobs = [candidates.Job("t", algorithm, 2, SETTINGS)]
    result = candidates.recommend(interactions, jobs).to_pylist()
    firsts = {r["customer_id"]: r["item_id"] for r in result if r["rank"] == 1}
    assert len(firsts) == 18
    for customer, item in firsts.items():
        group, user = customer[1], int(customer.split("u")[1])
        assert item == f"g{group}i{user % 4}"
    for r in result:  # every candidate is explained by an item of the customer's own group
        assert r["because_item_id"][1] == r["customer_id"][1]
    ranks: dict[str, list[int]] = {}
    for r in result:
        ranks.setdefault(r["customer_id"], []).append(r["rank"])
    assert all(sorted(v) == list(range(1, len(v) + 1)) for v in ranks.values())


def test_tenants_are_fitted_apart_even_with_the_same_ids() -> None:
    """Tenant u has the same ids as t, in other groups: each tenant's own structure wins."""
    t_rows = _blocks("t")
    # u: the same customer and item ids, but customer g0uN shops in group 1's items
    u_rows = [
        ("u", c, i.replace("g1", "gX").replace("g0", "g1").replace("gX", "g0"), a, p)
        for _, c, i, a, p in t_rows
    ]
    jobs = [candidates.Job(t, "ease", 1, SETTINGS) for t in ("t", "u")]
    result = candidates.recommend(_interactions(t_rows + u_rows), jobs).to_pylist()
    first = {(r["tenant_id"], r["customer_id"]): r["item_id"] for r in result}
    assert first[("t", "g0u1")] == "g0i1"
    assert first[("u", "g0u1")] == "g1i1"


def test_a_tenant_whose_fit_fails_leaves_the_others_and_the_journal_says_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One tenant's fit raising gives that tenant no rows and a run with its error (what makes
    the build fail the tenant, models/lists/tenant_late_failures); the other tenant's rows are
    as they would be alone, and every run is timed in the build database's journal."""
    rows = _blocks("t") + [("u", c, i, a, p) for _, c, i, a, p in _blocks("t")]
    jobs = [candidates.Job(t, "ease", 1, SETTINGS) for t in ("t", "u")]
    alone = candidates.recommend(_interactions(_blocks("t")), jobs[:1]).to_pylist()
    fit = candidates._candidates

    def failing(job, matrix, plan, num_threads):  # type: ignore[no-untyped-def]
        if job.tenant_id == "u":
            raise np.linalg.LinAlgError("Singular matrix\nin the planted fit")
        return fit(job, matrix, plan, num_threads)

    monkeypatch.setattr(candidates, "_candidates", failing)
    con = duckdb.connect()
    con.execute(journal.RUNS_DDL)
    with journal.recording(con, "holdout_candidates"):
        result = candidates.recommend(_interactions(rows), jobs).to_pylist()
    assert result == alone
    runs = con.execute(
        "select model, tenant_id, algorithm, seconds >= 0, error from main.recsql_engine_runs "
        "order by tenant_id"
    ).fetchall()
    assert runs == [
        ("holdout_candidates", "t", "ease", True, None),
        ("holdout_candidates", "u", "ease", True, "LinAlgError: Singular matrix"),
    ]


def test_bought_items_are_never_candidates_and_targets_limit_customers() -> None:
    rows = _blocks("t")
    rows.append(("t", "g0u0", "g2i0", 0.0, 1))  # bought and fully returned: still bought
    interactions = _interactions(rows)
    targets = candidates.targets_from(pa.table({"tenant_id": ["t"], "customer_id": ["g0u0"]}))
    result = candidates.recommend(
        interactions, [candidates.Job("t", "als", 20, SETTINGS)], targets
    ).to_pylist()
    assert {r["customer_id"] for r in result} == {"g0u0"}
    items = {r["item_id"] for r in result}
    assert "g2i0" not in items and not items & {"g0i1", "g0i2", "g0i3"}


def test_ease_over_ease_max_items_is_fitted_on_the_most_popular_items() -> None:
    """Three groups of 4 items; two more customers buy every item of groups 0 and 1, so
    those 8 items have the most customers. With ease_max_items 8, EASE is fitted on them
    alone: their customers still get the missing item of their group first; group 2's get no
    EASE candidates (the lists fill them); the stored weights are of those 8 items only."""
    rows = _blocks("t") + [
        ("t", f"g{g}all{n}", f"g{g}i{i}", 1.0, 1)
        for g in (0, 1)
        for n in range(2)
        for i in range(4)
    ]
    settings = dict(SETTINGS, ease_max_items=8)
    job = candidates.Job("t", "ease", 2, settings)
    result = candidates.recommend(_interactions(rows), [job]).to_pylist()
    firsts = {r["customer_id"]: r["item_id"] for r in result if r["rank"] == 1}
    assert firsts == {f"g{g}u{u}": f"g{g}i{u % 4}" for g in (0, 1) for u in range(6)}
    weights = candidates.ease_neighbours(_interactions(rows), [job]).to_pylist()
    stored = {r["item_id"] for r in weights} | {r["neighbour_item_id"] for r in weights}
    assert stored == {f"g{g}i{i}" for g in (0, 1) for i in range(4)}
    # the same tenant under the limit: every group
    everything = dict(SETTINGS, ease_max_items=12)
    result = candidates.recommend(
        _interactions(rows), [candidates.Job("t", "ease", 2, everything)]
    ).to_pylist()
    assert {r["customer_id"][:2] for r in result} == {"g0", "g1", "g2"}


@pytest.mark.parametrize("algorithm", ["als", "ease"])
def test_a_customer_without_positive_history_gets_no_candidates(algorithm: str) -> None:
    """Bought and returned everything: no model can say anything, so no candidates (the
    served list falls back to popularity) instead of items in index order."""
    rows = [*_blocks("t"), ("t", "returner", "g0i0", -0.5, 1)]
    result = candidates.recommend(
        _interactions(rows), [candidates.Job("t", algorithm, 3, SETTINGS, "binary")]
    ).to_pylist()
    assert "returner" not in {r["customer_id"] for r in result}
    assert len({r["customer_id"] for r in result}) == 18


def test_als_factors_are_stored_as_fixed_size_arrays_padded_per_tenant() -> None:
    """Two tenants asking for 8 and 4 factors: every row has 8 floats, the second tenant's
    last 4 are zero, and customer . item of the stored factors ranks as the model does."""
    rows = _blocks("t") + [("u", c, i, a, p) for _, c, i, a, p in _blocks("x")]
    jobs = [
        candidates.Job("t", "als", 0, SETTINGS),
        candidates.Job("u", "als", 0, dict(SETTINGS, als_factors=4)),
    ]
    table = candidates.factorize(_interactions(rows), jobs)
    assert table.schema.field("factors").type == pa.list_(pa.float32(), 8)
    assert table.num_rows == 2 * (18 + 12)  # customers and items of each tenant
    factors = {
        (r["tenant_id"], r["entity"], r["entity_id"]): np.array(r["factors"])
        for r in table.to_pylist()
    }
    assert all(not v[4:].any() for (t, _, _), v in factors.items() if t == "u")
    user = factors[("t", "customer", "g1u2")]
    lacked = user @ factors[("t", "item", "g1i2")]  # the group item this customer lacks
    others = [user @ factors[("t", "item", f"g{g}i{i}")] for g in (0, 2) for i in range(4)]
    assert lacked > max(others)


def test_als_candidates_from_stored_factors_are_those_of_a_fit() -> None:
    """customer_candidates takes an ALS champion's factors from als_factors instead of fitting
    again: the candidates are the same, padded factors (4 of 8) included; a tenant the stored
    factors do not cover is fitted."""
    rows = _blocks("t") + [("u", c, i, a, p) for _, c, i, a, p in _blocks("x")]
    rows += [("v", c, i, a, p) for _, c, i, a, p in _blocks("y")]
    interactions = _interactions(rows)
    settings = {"t": SETTINGS, "u": dict(SETTINGS, als_factors=4), "v": SETTINGS}
    jobs = [candidates.Job(t, "als", 3, s) for t, s in settings.items()]
    stored = candidates.factorize(interactions, jobs[:2]).sort_by("tenant_id")
    fitted = candidates.recommend(interactions, jobs)
    reused = candidates.recommend(interactions, jobs, als_factors=stored)
    assert reused.num_rows == fitted.num_rows == 3 * 18 * 3
    assert reused.to_pylist() == fitted.to_pylist()


def test_many_small_tenants_on_worker_processes_give_the_threads_answers(monkeypatch) -> None:
    """From PROCESS_POOL_MIN_TASKS jobs on, small tenants run on worker processes: the same
    candidates (and factors) as on threads, in the same order."""
    rows = [(f"t{n}", c, i, a, p) for n in range(6) for _, c, i, a, p in _blocks("x")]
    jobs = [
        candidates.Job(f"t{n}", a, 3, SETTINGS, "sqrt") for n in range(6) for a in ("als", "ease")
    ]
    interactions = _interactions(rows)
    monkeypatch.setattr(workers, "PROCESS_POOL_MIN_TASKS", 1000)
    on_threads = candidates.recommend(interactions, jobs, workers=2)
    factors_on_threads = candidates.factorize(interactions, jobs[::2], workers=2)
    monkeypatch.setattr(workers, "PROCESS_POOL_MIN_TASKS", 1)
    assert candidates.recommend(interactions, jobs, workers=2).equals(on_threads)
    assert candidates.factorize(interactions, jobs[::2], workers=2).equals(factors_on_threads)


def test_a_tenant_with_no_customer_to_recommend_for_gets_no_candidates() -> None:
    """holdout_candidates asks only for evaluated customers: a tenant with none (no purchase
    in its holdout window) yields nothing, and the others are unaffected."""
    rows = _blocks("t") + [("u", c, i, a, p) for _, c, i, a, p in _blocks("x")]
    targets = candidates.targets_from(pa.table({"tenant_id": ["t"], "customer_id": ["g0u1"]}))
    jobs = [candidates.Job(t, a, 2, SETTINGS, "sqrt") for t in ("t", "u") for a in ("als", "ease")]
    result = candidates.recommend(_interactions(rows), jobs, targets).to_pylist()
    assert {(r["tenant_id"], r["customer_id"]) for r in result} == {("t", "g0u1")}


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, exited but not yet reaped, does not)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
def test_a_killed_build_leaves_no_worker_processes(tmp_path: Path) -> None:
    """A build killed with SIGKILL cannot stop its worker processes: they stop themselves."""
    script = tmp_path / "pool.py"
    script.write_text(
        "import time\n"
        "from recsql.engine import workers\n"
        "pool = workers._process_pool(2)\n"
        "print(*[p.pid for p in pool._processes.values()], flush=True)\n"
        "time.sleep(60)\n"
    )
    owner = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert owner.stdout is not None
    pids = [int(pid) for pid in owner.stdout.readline().split()]
    assert len(pids) == 2 and all(_alive(pid) for pid in pids)
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in pids)


def test_worker_processes_run_blas_and_openmp_single_threaded(monkeypatch) -> None:
    """Each worker fits one small tenant at a time: BLAS and OpenMP threads on top of the
    workers would fight for the cores (EASE on two workers with two BLAS threads each ran ten
    times slower). The libraries load in a worker with its first task, after it started, and
    must be limited all the same."""
    rows = [(f"t{n}", c, i, a, p) for n in range(4) for _, c, i, a, p in _blocks("x")]
    jobs = [candidates.Job(f"t{n}", "ease", 3, SETTINGS, "sqrt") for n in range(4)]
    monkeypatch.setattr(workers, "PROCESS_POOL_MIN_TASKS", 1)
    candidates.recommend(_interactions(rows), jobs, workers=2)  # loads numpy, scipy, implicit
    pool = workers._process_pool(2)
    infos = [pool.submit(threadpoolctl.threadpool_info).result() for _ in range(8)]
    libraries = [library for info in infos for library in info]
    assert libraries and {library["num_threads"] for library in libraries} == {1}


def _stored_forms(interactions: pa.Table, weights_kept: int) -> tuple[pa.Table, pa.Table]:
    """What a version of tenant t stores: EASE's largest weights and ALS's item factors."""
    settings = dict(SETTINGS, ease_neighbours=weights_kept)
    neighbours = candidates.ease_neighbours(
        interactions, [candidates.Job("t", "ease", weights_kept, settings, "binary")]
    )
    factors = candidates.factorize(interactions, [candidates.Job("t", "als", 0, SETTINGS)])
    items = factors.filter(pa.compute.equal(factors["entity"], "item"))
    return neighbours, pa.table(
        {
            "tenant_id": items["tenant_id"],
            "item_id": items["entity_id"],
            "factors": items["factors"].cast(pa.list_(pa.float32())),
        }
    )


def test_stored_ease_weights_are_each_items_strongest_first_ranked_from_one() -> None:
    """A version's EASE rows: per item, its `ease_neighbours` weights largest in magnitude, the
    strongest first (ties: the item first in the tenant's order), ranked 1, 2, ... - checked
    against the fit's dense weights sorted here."""
    rng = np.random.default_rng(7)
    rows = [
        ("t", f"c{c:02d}", f"i{i:02d}", 1.0, 1)
        for c in range(30)
        for i in range(12)
        if rng.random() < 0.35
    ]
    interactions = _interactions(rows)
    kept = 4
    settings = dict(SETTINGS, ease_neighbours=kept)
    stored = candidates.ease_neighbours(
        interactions, [candidates.Job("t", "ease", kept, settings, "binary")]
    ).to_pylist()
    matrix = candidates.tenant_matrices(interactions)["t"]
    dense = EASE.from_settings(settings, "binary").fit(matrix.affinities).item_weights_
    items = matrix.item_ids.to_pylist()
    expected = []
    for row, item in enumerate(items):
        others = [c for c in range(len(items)) if c != row and dense[row, c] != 0]
        strongest = sorted(others, key=lambda c: (-abs(np.float32(dense[row, c])), c))[:kept]
        expected += [(item, rank, items[c]) for rank, c in enumerate(strongest, 1)]
    assert [(r["item_id"], r["rank"], r["neighbour_item_id"]) for r in stored] == expected
    for r in stored:
        fitted = dense[items.index(r["item_id"]), items.index(r["neighbour_item_id"])]
        assert r["weight"] == pytest.approx(float(fitted), rel=1e-6)


@pytest.mark.parametrize(
    ("setting", "fitted_items", "kept"),
    [
        (None, 12, 100),
        (None, 3_665, 100),
        (None, 5_000, 100),
        (None, 5_001, 101),
        (None, 15_000, 300),
        (None, 20_000, 400),
        (40, 15_000, 40),
        (1_000, 12, 1_000),
    ],
)
def test_ease_keeps_a_share_of_a_large_catalogues_weights_unless_the_tenant_says(
    setting: int | None, fitted_items: int, kept: int
) -> None:
    """Without `ease_neighbours` a version keeps 2 % of the items EASE is fitted on per item
    (rounded up), at least 100: a fixed 100 cost a 15,000-item fit 8 % of its NDCG. A tenant's
    own setting is kept as it is."""
    assert candidates.ease_weights_kept(setting, fitted_items) == kept


def test_a_stored_model_with_every_weight_recommends_as_the_fit() -> None:
    """Serving from the stored form loses nothing when it keeps every weight: EASE from its
    weights, ALS from its item factors with customers folded in (implicit's own user solve:
    the fitted user factors of the last sweep are close to it, not equal)."""
    interactions = _interactions(_blocks("t", groups=4, size=5, users=8))
    neighbours, factors = _stored_forms(interactions, weights_kept=1000)
    jobs = [candidates.Job("t", "ease", 5, SETTINGS, "binary")]
    fitted = candidates.recommend(interactions, jobs)
    stored = candidates.recommend_stored(interactions, jobs, neighbours, factors)
    assert stored.to_pylist() == fitted.to_pylist()

    jobs = [candidates.Job("t", "als", 3, SETTINGS)]
    stored = candidates.recommend_stored(interactions, jobs, neighbours, factors).to_pylist()
    firsts = {r["customer_id"]: r["item_id"] for r in stored if r["rank"] == 1}
    assert len(firsts) == 32
    for customer, item in firsts.items():
        group, user = customer[1], int(customer.split("u")[1])
        assert item == f"g{group}i{user % 5}"


def test_a_stored_model_follows_new_purchases_and_ignores_unknown_items() -> None:
    """A kept version scores today's histories: a customer's new purchase changes their list,
    an item the version never saw is neither recommended nor an error."""
    before = _blocks("t", groups=2, size=4, users=6)
    neighbours, factors = _stored_forms(_interactions(before), weights_kept=1000)
    # g0u0 (who missed g0i0) now bought it, and an item launched after the version
    after = _interactions([*before, ("t", "g0u0", "g0i0", 1.0, 1), ("t", "g1u1", "new", 1.0, 1)])
    for algorithm in ("ease", "als"):
        jobs = [
            candidates.Job("t", algorithm, 2, SETTINGS, "binary" if algorithm == "ease" else None)
        ]
        rows = candidates.recommend_stored(after, jobs, neighbours, factors).to_pylist()
        assert "new" not in {r["item_id"] for r in rows}
        g0u0 = [r["item_id"] for r in rows if r["customer_id"] == "g0u0"]
        assert "g0i0" not in g0u0, algorithm  # bought: never offered on discover


def test_stored_ease_on_a_large_catalogue_scores_only_the_items_it_reaches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """EASE fitted on the 12 most popular of 212 items gives the other 200 no weight: the
    stored model scores the 12 alone (the 200 would all score 0) and its lists are exactly
    those of scoring every item."""
    rng = np.random.default_rng(3)
    rows = _blocks("t", groups=3, size=4, users=8)
    customers = sorted({r[1] for r in rows})
    rows += [("t", str(rng.choice(customers)), f"tail{j:03d}", 1.0, 1) for j in range(200)]
    # some customers also buy in another group: items scored below 0 that one purchase
    # speaks for, which scoring every item ranks behind the 200 at 0
    rows += [("t", f"g0u{u}", f"g1i{u % 4}", 1.0, 1) for u in range(4)]
    interactions = _interactions(rows)
    settings = dict(SETTINGS, ease_max_items=12, ease_neighbours=1000)
    neighbours = candidates.ease_neighbours(
        interactions, [candidates.Job("t", "ease", 1000, settings, "binary")]
    )
    jobs = [candidates.Job("t", "ease", 8, settings, "binary")]
    no_factors = candidates.factors_schema(1).empty_table()
    restricted = candidates.recommend_stored(interactions, jobs, neighbours, no_factors)
    assert {r["item_id"][0] for r in restricted.to_pylist()} == {"g"}

    matrix = candidates.tenant_matrices(interactions)["t"]
    weights = candidates.aligned_weights(neighbours, matrix.item_ids)
    reached = candidates._reached_by(weights, matrix, 8)
    assert reached is not None and reached[0].affinities.shape[1] == 12
    monkeypatch.setattr(candidates, "_reached_by", lambda *_: None)
    every_item = candidates.recommend_stored(interactions, jobs, neighbours, no_factors)
    assert restricted.num_rows > 0
    assert restricted.to_pylist() == every_item.to_pylist()


def test_ease_keeps_the_weights_largest_in_magnitude() -> None:
    weights = np.array([[0, 0.5, -0.9, 0.1], [0.2, 0, 0.3, -0.1], [0, 0, 0, 0], [1, 2, 3, 0]])
    kept = largest_weights(weights, 2).toarray()
    np.testing.assert_allclose(
        kept, [[0, 0.5, -0.9, 0], [0.2, 0, 0.3, 0], [0, 0, 0, 0], [0, 2, 3, 0]], rtol=1e-6
    )


@pytest.mark.parametrize("runs_as_slices", [4096, 0], ids=["runs-sliced", "rows-gathered"])
def test_rows_are_grouped_by_tenant_keeping_each_tenants_order(
    runs_as_slices: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stored models arrive in any order (DuckDB scans in parallel): each tenant's rows are
    brought together, in the order they came; rows already grouped are left as they are. Both
    ways of bringing them together: slices of the runs (few runs) and a gather of every row."""
    from recsql.engine import tenancy
    from recsql.engine.tenancy import grouped_by_tenant

    monkeypatch.setattr(tenancy, "MAX_RUNS_AS_SLICES", runs_as_slices)
    shuffled = pa.table({"tenant_id": ["b", "a", "b", "c", "a", "b"], "n": [0, 1, 2, 3, 4, 5]})
    table, slices = grouped_by_tenant(shuffled)
    got = {tenant: table.slice(rows.start, rows.stop - rows.start) for tenant, rows in slices}
    assert {tenant: part.column("n").to_pylist() for tenant, part in got.items()} == {
        "a": [1, 4],
        "b": [0, 2, 5],
        "c": [3],
    }
    assert all(set(part.column("tenant_id").to_pylist()) == {t} for t, part in got.items())

    grouped = pa.table({"tenant_id": ["z", "z", "a", "m", "m"], "n": [0, 1, 2, 3, 4]})
    table, slices = grouped_by_tenant(grouped)
    assert table.column("n").to_pylist() == [0, 1, 2, 3, 4]  # not sorted by name
    assert slices == [("z", slice(0, 2)), ("a", slice(2, 3)), ("m", slice(3, 5))]

    # Arrow batches as DuckDB hands them over: a tenant's rows in two of them
    chunked = pa.concat_tables([grouped.slice(0, 3), pa.table({"tenant_id": ["z"], "n": [5]})])
    table, slices = grouped_by_tenant(chunked)
    assert slices == [("z", slice(0, 3)), ("a", slice(3, 4))]
    assert table.column("n").to_pylist() == [0, 1, 5, 2]

    empty = shuffled.slice(0, 0)
    assert grouped_by_tenant(empty)[1] == []
