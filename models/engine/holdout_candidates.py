"""One row per tenant, matrix algorithm (ALS, EASE) and variant, evaluated customer and rank:
the top candidates_n items the algorithm recommends from the holdout fold, with their scores,
for offline evaluation (its top k) and the learned ranker (int_ranking_examples). ALS
scores from holdout_als_factors (the same fit, kept). All the logic is in
recsql/engine/candidates.py (candidates.VARIANTS lists the variants)."""

from recsql.engine import candidates, shards


def model(dbt, session):
    dbt.config(materialized="table")
    weighted = candidates.training(dbt.ref("int_interactions_weighted"), dbt.ref("tenant_plans"))
    evaluated = (
        dbt.ref("int_holdout_purchases_collected")
        .filter("is_evaluated")
        .project("tenant_id, customer_id")
    )
    settings = dbt.ref("tenant_settings").to_arrow_table().to_pylist()
    jobs = [
        candidates.Job(row["tenant_id"], algorithm, row["candidates_n"], row, variant)
        for row in settings
        for algorithm, variants in candidates.VARIANTS.items()
        for variant in variants
    ]
    als_factors = dbt.ref("holdout_als_factors")

    def shard(only):
        return candidates.recommend(
            candidates.fold_interactions(only(weighted), "holdout"),
            jobs,
            candidates.targets_from(only(evaluated).distinct().to_arrow_table()),
            als_factors=only(als_factors).order("tenant_id, entity, entity_id").to_arrow_table(),
        )

    holdout = weighted.filter("fold = 'holdout'")
    return shards.build(session, "holdout_candidates", shards.rows_per_tenant(holdout), shard)
