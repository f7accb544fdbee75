"""One row per tenant, matrix algorithm, ranked variant, evaluated customer and rank (<= k):
each model's holdout candidates re-ordered by a learned ranker, and the union of EASE's two
variants' candidates ranked by a learned blend (variant 'blend ranked'), cross-fitted (each
half of the customers by a ranker fitted on the other half), for the offline evaluation. A
model whose halves cannot each learn one has no ranked lists. The context features are the
holdout fold's (its purchases and items). All the logic is in recsql/engine/ranker.py and
recsql/engine/blend.py."""

import pyarrow as pa

from recsql.engine import blend, ranker, shards


def model(dbt, session):
    dbt.config(materialized="table")
    k = dict(dbt.ref("tenant_settings").project("tenant_id, k").fetchall())
    depths = dict(dbt.ref("tenant_settings").project("tenant_id, candidates_n").fetchall())
    examples = ranker.learnable(dbt.ref("int_ranking_examples"))
    # the ranker's context: the holdout fold's purchases and the items, as of its cutoff
    weighted, items = dbt.ref("int_interactions_weighted"), dbt.ref("stg_items")
    folds = dbt.ref("int_folds_defined")

    def shard(only):
        rows = only(examples).to_arrow_table()
        contexts = ranker.holdout_contexts(rows, only(weighted), only(items), only(folds))
        return pa.concat_tables(
            [
                ranker.cross_fitted_lists(rows, contexts, k),
                blend.cross_fitted_lists(rows, contexts, k, depths),
            ]
        )

    return shards.build(
        session, "holdout_ranked_candidates", shards.rows_per_tenant(examples), shard
    )
