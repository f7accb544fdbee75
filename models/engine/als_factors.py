"""One row per tenant, entity ('customer' or 'item') and id: the ALS factors a tenant serves
with, as fixed-size float arrays (zero-padded to the widest tenant), and the fold they were
fitted on (`fitted_on`). A tenant whose champion is ALS is fitted on its full history (its
candidates, customer_candidates, come from these factors); every other tenant keeps the factors
of its holdout fit (holdout_als_factors): one ALS fit per tenant and fold, however many
tenants. The served database keeps the item factors, so a customer the build never saw can be
folded in from the items they look at. All the logic is in recsql/engine/candidates.py."""

import pyarrow as pa

from recsql.engine import candidates, journal


def model(dbt, session):
    dbt.config(materialized="table")
    champions = dbt.ref("tenant_champions").filter("champion = 'als'").project("tenant_id")
    interactions = candidates.fold_interactions(
        dbt.ref("int_interactions_weighted").join(champions, "tenant_id"), "full"
    )
    settings = dbt.ref("tenant_settings").to_arrow_table().to_pylist()
    # a job for every tenant: only those with interactions here (the champions) are fitted
    jobs = [candidates.Job(row["tenant_id"], "als", 0, row) for row in settings]
    with journal.recording(session, "als_factors"):
        full = candidates.factorize(interactions, jobs, width=candidates.factors_width(settings))
    holdout = (
        dbt.ref("holdout_als_factors")
        .join(champions, "tenant_id", how="anti")
        .order("tenant_id, entity, entity_id")
        .to_arrow_table()
    )
    return pa.concat_tables(
        [
            full.append_column("fitted_on", pa.repeat("full", full.num_rows)),
            holdout.append_column("fitted_on", pa.repeat("holdout", holdout.num_rows)),
        ]
    )
