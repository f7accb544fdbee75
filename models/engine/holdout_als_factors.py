"""One row per tenant, entity ('customer' or 'item') and id: ALS fitted on the holdout fold of
every tenant (what the offline evaluation scores, holdout_candidates), as fixed-size float
arrays zero-padded to the widest tenant. Kept so that no tenant is fitted twice on the same
data: holdout_candidates scores from them, and a tenant whose champion is not ALS publishes
these item factors for fold-in (als_factors). All the logic is in recsql/engine/candidates.py."""

from recsql.engine import candidates, shards


def model(dbt, session):
    dbt.config(materialized="table")
    # the tenants this build trains (tenant_plans)
    weighted = candidates.training(dbt.ref("int_interactions_weighted"), dbt.ref("tenant_plans"))
    settings = dbt.ref("tenant_settings").to_arrow_table().to_pylist()
    jobs = [candidates.Job(row["tenant_id"], "als", 0, row) for row in settings]
    width = candidates.factors_width(settings)

    def shard(only):
        interactions = candidates.fold_interactions(only(weighted), "holdout")
        return candidates.factorize(interactions, jobs, width=width)

    holdout = weighted.filter("fold = 'holdout'")
    return shards.build(session, "holdout_als_factors", shards.rows_per_tenant(holdout), shard)
