"""One row per tenant, entity ('customer' or 'item') and id: ALS fitted on the holdout fold of
every tenant (what the offline evaluation scores, holdout_candidates), as fixed-size float
arrays zero-padded to the widest tenant. Kept so that no tenant is fitted twice on the same
data: holdout_candidates scores from them, and a tenant whose champion is not ALS publishes
these item factors for fold-in (als_factors). All the logic is in recsql/engine/candidates.py."""

from recsql.engine import candidates, journal


def model(dbt, session):
    dbt.config(materialized="table")
    # the tenants this build trains (tenant_plans)
    weighted = candidates.training(dbt.ref("int_interactions_weighted"), dbt.ref("tenant_plans"))
    interactions = candidates.fold_interactions(weighted, "holdout")
    settings = dbt.ref("tenant_settings").to_arrow_table().to_pylist()
    jobs = [candidates.Job(row["tenant_id"], "als", 0, row) for row in settings]
    with journal.recording(session, "holdout_als_factors"):
        result = candidates.factorize(interactions, jobs, width=candidates.factors_width(settings))
    return result
