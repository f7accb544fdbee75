"""One row per tenant, matrix algorithm (ALS, EASE) and variant, evaluated customer and rank:
the top k items the algorithm recommends from the holdout fold, for offline evaluation. ALS
scores from holdout_als_factors (the same fit, kept). All the logic is in
recsql/engine/candidates.py (candidates.VARIANTS lists the variants)."""

from recsql.engine import candidates, journal


def model(dbt, session):
    dbt.config(materialized="table")
    # the tenants this build trains (tenant_plans)
    weighted = candidates.training(dbt.ref("int_interactions_weighted"), dbt.ref("tenant_plans"))
    interactions = candidates.fold_interactions(weighted, "holdout")
    evaluated = (
        dbt.ref("int_holdout_purchases_collected")
        .project("tenant_id, customer_id")
        .distinct()
        .to_arrow_table()
    )
    settings = dbt.ref("tenant_settings").to_arrow_table().to_pylist()
    jobs = [
        candidates.Job(row["tenant_id"], algorithm, row["k"], row, variant)
        for row in settings
        for algorithm, variants in candidates.VARIANTS.items()
        for variant in variants
    ]
    als_factors = dbt.ref("holdout_als_factors").order("tenant_id, entity, entity_id")
    with journal.recording(session, "holdout_candidates"):
        result = candidates.recommend(
            interactions,
            jobs,
            candidates.targets_from(evaluated),
            als_factors=als_factors.to_arrow_table(),
        )
    return result
