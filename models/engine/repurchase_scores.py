"""One row per tenant, customer and item they bought (full history): how likely the customer is
to buy it again soon — a log-odds, or decayed purchase frequency where the tenant had too little
history to learn from — by the buy-again model of the tenant's active version
(active_repurchase_models). All the logic is in recsql/engine/repurchase.py."""

from recsql.engine import repurchase, shards


def model(dbt, session):
    dbt.config(materialized="table")
    features = dbt.ref("int_repurchase_features").filter("fold = 'full'")
    models = dbt.ref("active_repurchase_models")

    def shard(only):
        rows = only(features).order("tenant_id, customer_id, item_id").to_arrow_table()
        return repurchase.score(rows, only(models).to_arrow_table())

    return shards.build(session, "repurchase_scores", shards.rows_per_tenant(features), shard)
