"""One row per tenant trained in this build: its buy-again model, learned from its holdout fold
(the method, and for a logistic regression the standardisation and coefficients) — what its
version stores, and what scores its customers (repurchase_scores) for as long as that version
serves. All the logic is in recsql/engine/repurchase.py."""

from recsql.engine import repurchase


def model(dbt, session):
    dbt.config(materialized="table")
    features = (
        dbt.ref("int_repurchase_features")
        .filter("fold = 'holdout'")
        .order("tenant_id, customer_id, item_id")
    )
    return repurchase.fit(features.to_arrow_table())
