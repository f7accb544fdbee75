"""One row per tenant, matrix algorithm and ranked variant whose holdout can teach a learned
ranker: its weights on the ranker's features, fitted on all its evaluated customers
(int_ranking_examples), with the context of the holdout fold's purchases and items - and the
blend of EASE's two variants (variant 'blend ranked'), its weights on the blend's features.
The version of a tenant whose champion is ranked stores its row (trained_rankers). All the
logic is in recsql/engine/ranker.py and recsql/engine/blend.py."""

import pyarrow as pa

from recsql.engine import blend, ranker, shards


def model(dbt, session):
    dbt.config(materialized="table")
    depths = dict(dbt.ref("tenant_settings").project("tenant_id, candidates_n").fetchall())
    examples = ranker.learnable(dbt.ref("int_ranking_examples"))
    # the ranker's context: the holdout fold's purchases and the items, as of its cutoff
    weighted, items = dbt.ref("int_interactions_weighted"), dbt.ref("stg_items")
    folds = dbt.ref("int_folds_defined")

    def shard(only):
        rows = only(examples).to_arrow_table()
        contexts = ranker.holdout_contexts(rows, only(weighted), only(items), only(folds))
        return pa.concat_tables([ranker.fit(rows, contexts), blend.fit(rows, contexts, depths)])

    return shards.build(session, "rankers", shards.rows_per_tenant(examples), shard)
