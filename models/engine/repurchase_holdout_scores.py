"""One row per tenant trained in this build, evaluated customer and item bought before the
holdout cutoff: the buy-again score of the offline evaluation, cross-fitted (each half of the
customers scored by a model fitted on the other). All the logic is in
recsql/engine/repurchase.py."""

from recsql.engine import repurchase, shards


def model(dbt, session):
    dbt.config(materialized="table")
    features = dbt.ref("int_repurchase_features").filter("fold = 'holdout'")

    def shard(only):
        rows = only(features).order("tenant_id, customer_id, item_id").to_arrow_table()
        return repurchase.holdout_scores(rows)

    sizes = shards.rows_per_tenant(features)
    return shards.build(session, "repurchase_holdout_scores", sizes, shard)
