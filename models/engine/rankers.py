"""One row per tenant, matrix algorithm and ranked variant whose holdout can teach a learned
ranker: its weights on the ranker's features, fitted on all its evaluated customers
(int_ranking_examples). The version of a tenant whose champion is ranked stores its row
(trained_rankers). All the logic is in recsql/engine/ranker.py."""

from recsql.engine import ranker, shards


def model(dbt, session):
    dbt.config(materialized="table")
    examples = ranker.learnable(dbt.ref("int_ranking_examples"))

    def shard(only):
        return ranker.fit(only(examples).to_arrow_table())

    return shards.build(session, "rankers", shards.rows_per_tenant(examples), shard)
