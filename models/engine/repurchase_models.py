"""One row per tenant trained in this build: its buy-again model, learned from its holdout fold
(the method, and for a logistic regression the standardisation and coefficients) — what its
version stores, and what scores its customers (repurchase_scores) for as long as that version
serves. All the logic is in recsql/engine/repurchase.py."""

from recsql.engine import repurchase, shards


def model(dbt, session):
    dbt.config(materialized="table")
    features = dbt.ref("int_repurchase_features").filter("fold = 'holdout'")

    def shard(only):
        rows = only(features).order("tenant_id, customer_id, item_id").to_arrow_table()
        return repurchase.fit(rows)

    return shards.build(session, "repurchase_models", shards.rows_per_tenant(features), shard)
