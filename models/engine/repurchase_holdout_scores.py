"""One row per tenant trained in this build, evaluated customer and item bought before the
holdout cutoff: the buy-again score of the offline evaluation, cross-fitted (each half of the
customers scored by a model fitted on the other). All the logic is in
recsql/engine/repurchase.py."""

from recsql.engine import repurchase


def model(dbt, session):
    dbt.config(materialized="table")
    features = (
        dbt.ref("int_repurchase_features")
        .filter("fold = 'holdout'")
        .order("tenant_id, customer_id, item_id")
    )
    return repurchase.holdout_scores(features.to_arrow_table())
