"""One row per tenant, fold, customer and item bought before the fold's cutoff: how likely the
customer is to buy it again soon (a log-odds, or the decayed affinity where the tenant has too
little history to learn from). All the logic is in recsql/engine/repurchase.py."""

from recsql.engine import repurchase


def model(dbt, session):
    dbt.config(materialized="table")
    features = dbt.ref("int_repurchase_features").order("tenant_id, fold, customer_id, item_id")
    return repurchase.score(features.to_arrow_table())
