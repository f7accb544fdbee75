"""One row per tenant, customer and rank: the top `candidates_n` items the tenant's champion
(algorithm and variant) recommends, for tenants whose champion is a matrix algorithm (ALS or
EASE), fitted on the full history. ALS champions are not fitted again: their factors are
als_factors' (the same fit). Co-occurrence candidates are SQL
(int_cooccurrence_candidates_scored). All the logic is in recsql/engine/candidates.py."""

from recsql.engine import candidates

MATRIX_ALGORITHMS = ("als", "ease")


def model(dbt, session):
    dbt.config(materialized="table")
    interactions = candidates.fold_interactions(dbt.ref("int_interactions_weighted"), "full")
    champions = {
        row["tenant_id"]: row for row in dbt.ref("tenant_champions").to_arrow_table().to_pylist()
    }
    # the ALS champions' factors (the others' are their holdout fits)
    als_factors = (
        dbt.ref("als_factors")
        .filter("fitted_on = 'full'")
        .order("tenant_id, entity, entity_id")
        .to_arrow_table()
    )
    settings = dbt.ref("tenant_settings").to_arrow_table().to_pylist()
    jobs = [
        candidates.Job(
            row["tenant_id"],
            champions[row["tenant_id"]]["champion"],
            row["candidates_n"],
            row,
            champions[row["tenant_id"]]["champion_variant"],
        )
        for row in settings
        if champions[row["tenant_id"]]["champion"] in MATRIX_ALGORITHMS
    ]
    return candidates.recommend(interactions, jobs, als_factors=als_factors)
