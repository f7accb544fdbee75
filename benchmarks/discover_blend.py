"""Does a learned blend of the candidate generators beat one generator's ranked list (issue 16)?

Usage: ``.venv/bin/python benchmarks/discover_blend.py [--work-dir DIR] [--out FILE]``
(needs scikit-learn: ``.venv/bin/pip install -e '.[bench]'``)

At each of the accuracy benchmark's cutoffs (2011-09-09, 2011-10-09, 2011-11-09) the demo
truncated at the cutoff is built (as ``accuracy.py`` does, its build database kept), and the
offline evaluation's own question is asked again on its holdout fold: which candidates of the
evaluated customers did they buy (new to them) in the holdout window? Each ranking below is
cross-fitted as the build's ranker is (each half of the customers, by the build's
``cross_fit_group``, ranked by a model fitted on the other half) and scored as
``model_evaluations`` scores a list (discover NDCG@k over the evaluated customers):

1. the best list of the build's evaluation (``model_evaluations``);
2. EASE's ``sqrt`` candidates re-ranked as the build does (``recsql.engine.ranker``: its
   features, the context ones made from the holdout fold as the build makes them, its
   ridge-regularised logistic regression) - the script checks that this reproduces the
   build's ``sqrt ranked`` figure;
3. the same without the context features (the item's age, the customer's share of purchases
   in its category, its price against the customer's usual): the ranker before they were
   added;
4. the blend of the union of the two EASE variants' candidates, each row with each variant's
   standardised score, log rank and presence (a variant that did not offer it: its lowest),
   and the ranker's item and context features: the engine's own (``recsql.engine.blend``,
   EASE ``blend ranked``) - the script checks that it reproduces the build's figure;
5. the blend of every matrix model's candidates (EASE ``sqrt`` and ``binary``, ALS), with
   co-occurrence's log rank where it offered the item;
6. row 5 learned by gradient-boosted trees (scikit-learn's ``HistGradientBoostingClassifier``).

Writes ``docs/benchmarks/discover_blend.md``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.compute as pc
from _common import (
    DOCS,
    command_line,
    lists_by_customer,
    machine,
    now,
    table,
    truncated_builds,
    work_directory,
    write_report,
)

from recsql.engine import blend as recsql_blend
from recsql.engine import ranker
from recsql.engine.repurchase import RepurchaseModel

CUTOFFS = ("2011-09-09", "2011-10-09", "2011-11-09")
#: The blended list-makers: (algorithm, variant) of the holdout candidates.
GENERATORS = (("ease", "sqrt"), ("ease", "binary"), ("als", None))
TREES = {"random_state": 0, "min_samples_leaf": 50, "max_leaf_nodes": 15, "learning_rate": 0.05}


class Holdout:
    """A build's holdout fold: its candidates, labels, truth and evaluated customers."""

    def __init__(self, build_db: Path):
        con = duckdb.connect(str(build_db), read_only=True)
        try:
            [(self.k, self.candidates_n)] = con.execute(
                "select k, candidates_n from base.tenant_settings"
            ).fetchall()
            self.examples = con.sql(
                "select * from engine.int_ranking_examples "
                "order by algorithm, variant, customer_id, rank"
            ).to_arrow_table()
            self.cooccurrence = dict(
                ((customer, item), rank)
                for customer, item, rank in con.execute(
                    "select customer_id, item_id, rank "
                    "from engine.int_holdout_cooccurrence_candidates"
                ).fetchall()
            )
            self.truth: dict[str, set[str]] = {}
            for customer, item in con.execute(
                "select customer_id, item_id from engine.int_holdout_purchases_collected "
                "where is_evaluated and not was_bought_before"
            ).fetchall():
                self.truth.setdefault(customer, set()).add(item)
            self.evaluated = [
                customer
                for (customer,) in con.execute(
                    "select distinct customer_id from engine.int_holdout_purchases_collected "
                    "where is_evaluated order by customer_id"
                ).fetchall()
            ]
            self.evaluations = dict(
                ((algorithm, variant), value)
                for algorithm, variant, value in con.execute(
                    "select algorithm, variant, value from engine.model_evaluations "
                    "where shelf = 'discover' and metric = 'ndcg'"
                ).fetchall()
            )
            # the context of the holdout fold, as models/engine/rankers.py makes it
            self.contexts = ranker.holdout_contexts(
                self.examples,
                con.sql("from engine.int_interactions_weighted"),
                con.sql("from staging.stg_items"),
                con.sql("from base.int_folds_defined"),
            )
        finally:
            con.close()

    def generator(self, algorithm: str, variant: str | None) -> dict[str, np.ndarray]:
        """The candidate rows of one list-maker, sorted by customer and rank, as numpy arrays
        with their context (as the build's ranker reads them: a missing item feature is NaN)."""
        variants = self.examples["variant"]
        rows = self.examples.filter(
            pc.and_(
                pc.equal(self.examples["algorithm"], algorithm),
                pc.is_null(variants) if variant is None else pc.equal(variants, variant),
            )
        )
        columns = {name: rows[name].to_numpy(zero_copy_only=False) for name in rows.column_names}
        [tenant_id] = set(columns["tenant_id"])
        context = self.contexts[tenant_id]
        return columns | context.columns(
            context.customers(rows["customer_id"]), context.items(rows["item_id"])
        )

    def ndcg(self, lists: dict[str, list[str]]) -> float:
        """Discover NDCG@k as model_evaluations has it: binary gains, the ideal DCG over
        min(relevant, k) positions, over the evaluated customers with something to find."""
        discounts = 1 / np.log2(np.arange(2, self.k + 2))
        values = []
        for customer in self.evaluated:
            relevant = self.truth.get(customer)
            if not relevant:
                continue
            ranked = lists.get(customer, [])[: self.k]
            gain = sum(discounts[i] for i, item in enumerate(ranked) if item in relevant)
            values.append(gain / discounts[: min(len(relevant), self.k)].sum())
        return float(np.mean(values))


class Rows:
    """Candidate rows (customer, item) with their features, labels and cross-fit halves."""

    def __init__(self, customers, items, features, labels, halves):
        self.customers = np.asarray(customers, dtype=object)
        self.items = np.asarray(items, dtype=object)
        self.features = np.asarray(features, dtype=float)
        self.labels = np.asarray(labels, dtype=bool)
        self.halves = np.asarray(halves)

    def without_context(self) -> Rows:
        """The rows with the ranker's features before its context ones."""
        kept = len(ranker.FEATURES) - len(ranker.CONTEXT_COLUMNS)
        return Rows(self.customers, self.items, self.features[:, :kept], self.labels, self.halves)

    def lists(self, scores: np.ndarray, k: int) -> dict[str, list[str]]:
        """Each customer's k rows with the highest scores (ties: the rows' own order)."""
        order = np.lexsort((np.arange(len(scores)), -scores, self.customers))
        lists: dict[str, list[str]] = {}
        for i in order:
            ranked = lists.setdefault(self.customers[i], [])
            if len(ranked) < k:
                ranked.append(self.items[i])
        return lists


def single(holdout: Holdout, algorithm: str, variant: str | None) -> Rows:
    """One list-maker's candidates with the build's ranker features."""
    rows = holdout.generator(algorithm, variant)
    return Rows(
        rows["customer_id"],
        rows["item_id"],
        ranker.design_matrix(rows),
        rows["is_bought"],
        rows["cross_fit_group"],
    )


def blend(holdout: Holdout, generators: tuple[tuple[str, str | None], ...], co: bool) -> Rows:
    """The union of the generators' candidates with the blend's features
    (:func:`recsql.engine.blend.union`: per generator its standardised score, log rank and
    presence, then the ranker's item and context features), and with ``co`` co-occurrence's
    log rank and presence."""
    groups = [holdout.generator(*g) for g in generators]
    found = union_of(groups, holdout.candidates_n)
    customers, items = found.customers, found.items
    features = [found.x]
    if co:
        k = max(holdout.cooccurrence.values(), default=0)
        features.append(
            np.array(
                [
                    (np.log(holdout.cooccurrence[key]), 1.0)
                    if key in holdout.cooccurrence
                    else (np.log(k + 1), 0.0)
                    for key in zip(customers, items, strict=True)
                ]
            )
        )
    return Rows(
        customers,
        items,
        np.column_stack(features),
        found.union.take([g["is_bought"] for g in groups]),
        found.union.take([g["cross_fit_group"] for g in groups]),
    )


class Coded:
    """A :class:`recsql.engine.blend.Union` of rows with string ids, and its rows' ids."""

    def __init__(self, found: recsql_blend.Union, customer_ids: np.ndarray, item_ids: np.ndarray):
        self.union = found
        self.x = found.x
        self.customers = customer_ids[found.customers]
        self.items = item_ids[found.items]


def union_of(groups: list[dict[str, np.ndarray]], depth: int) -> Coded:
    """:func:`recsql.engine.blend.union` of candidate rows whose ``customer_id`` and
    ``item_id`` are strings (one tenant, each group sorted by customer and rank), ``depth``
    deep each."""
    customer_ids, customer_codes = np.unique(
        np.concatenate([g["customer_id"] for g in groups]), return_inverse=True
    )
    item_ids, item_codes = np.unique(
        np.concatenate([g["item_id"] for g in groups]), return_inverse=True
    )
    bounds = np.cumsum([0, *(len(g["customer_id"]) for g in groups)])
    coded = [
        g | {"customer_id": customer_codes[a:b], "item": item_codes[a:b]}
        for g, a, b in zip(groups, bounds[:-1], bounds[1:], strict=True)
    ]
    return Coded(recsql_blend.union(coded, [depth] * len(groups)), customer_ids, item_ids)


def logistic(x: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """The build's ranker's learner (the buy-again model's ridge-regularised IRLS), scoring as
    the ranker does: its weights on the raw features, no intercept (the same order, to the
    last tie, as the build's lists)."""
    weights = ranker._raw_weights(RepurchaseModel().fit(x, y))
    return lambda features: ranker._scores(features, weights)


def trees(x: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(**TREES).fit(x, y).decision_function


def cross_fitted(rows: Rows, learner: Callable) -> np.ndarray:
    """Each half of the customers scored by a model fitted on the other half."""
    scores = np.zeros(len(rows.labels))
    for half in np.unique(rows.halves):
        scored = rows.halves == half
        scores[scored] = learner(rows.features[~scored], rows.labels[~scored])(
            rows.features[scored]
        )
    return scores


#: The first row of the report: the best list of the build's own evaluation.
BEST = "the build's best list (`model_evaluations`)"


def best_list(holdout: Holdout) -> tuple[str, float]:
    """The build's best discover list: its name and holdout NDCG@k."""
    (algorithm, variant), value = max(holdout.evaluations.items(), key=lambda item: item[1])
    return f"{algorithm} ({variant})" if variant else algorithm, value


#: The row of the engine's own blend (``blend ranked``), which the build evaluates.
TWO_VARIANTS = "blend of the two EASE variants' candidates (the build's `blend ranked`)"


def engine_blend(holdout: Holdout) -> dict[str, list[str]]:
    """The cross-fitted lists of the engine's blend (:mod:`recsql.engine.blend`), as
    ``holdout_ranked_candidates`` makes them."""
    [tenant] = holdout.contexts
    lists = recsql_blend.cross_fitted_lists(
        holdout.examples, holdout.contexts, {tenant: holdout.k}, {tenant: holdout.candidates_n}
    )
    return lists_by_customer(
        zip(lists["customer_id"].to_pylist(), lists["item_id"].to_pylist(), strict=True)
    )


def rankings(holdout: Holdout) -> dict[str, float]:
    """Each row of the report's table: its holdout NDCG@k."""
    _, value = best_list(holdout)
    ease = single(holdout, "ease", "sqrt")
    everything = blend(holdout, GENERATORS, co=True)

    def ranked(rows: Rows, learner: Callable = logistic) -> float:
        return holdout.ndcg(rows.lists(cross_fitted(rows, learner), holdout.k))

    return {
        BEST: value,
        "EASE (sqrt) re-ranked as the build does": ranked(ease),
        "EASE (sqrt) re-ranked without the context features": ranked(ease.without_context()),
        TWO_VARIANTS: holdout.ndcg(engine_blend(holdout)),
        "blend of EASE, ALS and co-occurrence": ranked(everything),
        "the same, gradient-boosted trees": ranked(everything, trees),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-dir", type=Path, help="keep the builds here (must not exist)")
    parser.add_argument("--out", type=Path, default=DOCS / "discover_blend.md")
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    champions: dict[str, str] = {}
    with work_directory(args.work_dir, "recsql-blend-") as work:
        for built in truncated_builds(work, CUTOFFS):
            cutoff = built.cutoff
            holdout = Holdout(built.build_db)
            champions[cutoff], _ = best_list(holdout)
            for name, value in rankings(holdout).items():
                results.setdefault(name, {})[cutoff] = value
            for name, variant in (
                ("EASE (sqrt) re-ranked as the build does", "sqrt ranked"),
                (TWO_VARIANTS, recsql_blend.VARIANT),
            ):
                built_value = holdout.evaluations.get(("ease", variant))
                if built_value is None or abs(results[name][cutoff] - built_value) > 1e-9:
                    raise SystemExit(
                        f"{name}: {results[name][cutoff]} at {cutoff}, the build {built_value}: "
                        "the script no longer ranks as the build does"
                    )
    best = next(iter(results.values()))
    rows = [
        [name, *(f"{values[c]:.4f} ({values[c] / best[c] - 1:+.1%})" for c in CUTOFFS)]
        for name, values in results.items()
    ]
    header = "\n".join(
        [
            "# Benchmark: a learned blend of the candidate generators (discover)\n",
            f"Command: `{command_line()}`  ",
            f"Date: {now()}  ",
            f"Machine: {machine()}",
        ]
    )
    report = f"""{header}

Issue 16 asks for a learned blend of the candidate generators. This asks what blends gain
where the build decides its champion: on the holdout fold of the accuracy benchmark's three
builds, discover NDCG@10 over the evaluated customers, each ranking cross-fitted by the
build's customer halves (the method: the script's docstring). The second row reproduces the
build's own `sqrt ranked` figure and the fourth its `blend ranked`, the blend the engine
builds (both checked). In brackets: against the first row, the build's best list.

{table(["ranking of the evaluated customers' holdout candidates", *CUTOFFS], rows, "lrrr")}

The build's best list: {"; ".join(f"{c}: {champions[c]}" for c in CUTOFFS)}.

What it means: docs/engine.md (The learned ranker; The blend of EASE's two variants).
"""
    write_report(args.out, report)


if __name__ == "__main__":
    main()
