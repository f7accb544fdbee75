"""One row per tenant, entity ('customer' or 'item') and id: the ALS factors a tenant serves
with, as fixed-size float arrays (zero-padded to the widest tenant), and the fold they were
fitted on (`fitted_on`). A tenant whose champion is ALS is fitted on its full history (its
candidates, customer_candidates, come from these factors); every other tenant keeps the factors
of its holdout fit (holdout_als_factors): one ALS fit per tenant and fold, however many
tenants. The served database keeps the item factors, so a customer the build never saw can be
folded in from the items they look at. All the logic is in recsql/engine/candidates.py."""

import pyarrow as pa

from recsql.engine import candidates, shards


def model(dbt, session):
    dbt.config(materialized="table")
    champions = dbt.ref("tenant_champions").filter("champion = 'als'").project("tenant_id")
    weighted = (
        dbt.ref("int_interactions_weighted").filter("fold = 'full'").join(champions, "tenant_id")
    )
    holdout = dbt.ref("holdout_als_factors").join(champions, "tenant_id", how="anti")
    settings = dbt.ref("tenant_settings").to_arrow_table().to_pylist()
    jobs = [candidates.Job(row["tenant_id"], "als", 0, row) for row in settings]
    width = candidates.factors_width(settings)

    def shard(only):
        interactions = candidates.fold_interactions(only(weighted), "full")
        full = candidates.factorize(interactions, jobs, width=width)
        kept = only(holdout).order("tenant_id, entity, entity_id").to_arrow_table()
        return pa.concat_tables(
            [
                full.append_column("fitted_on", pa.repeat("full", full.num_rows)),
                kept.append_column("fitted_on", pa.repeat("holdout", kept.num_rows)),
            ]
        )

    # a shard's work: the full fits of its ALS champions, the others' holdout factors
    rows = weighted.project("tenant_id").union(holdout.project("tenant_id"))
    return shards.build(session, "als_factors", shards.rows_per_tenant(rows), shard)
