"""One row per tenant, item and neighbour: the `ease_neighbours` weights largest in magnitude of
each item (by default 2 % of the items fitted, at least 100) in EASE fitted on the full
history, for the tenants trained in this build whose champion is EASE — what their version
stores and serves from (customer_candidates scores from these, never from the dense fit). All
the logic is in recsql/engine/candidates.py."""

from recsql.engine import candidates, shards


def model(dbt, session):
    dbt.config(materialized="table")
    champions = dbt.ref("tenant_champions").filter("champion = 'ease'")
    weighted = dbt.ref("int_interactions_weighted").join(
        champions.project("tenant_id"), "tenant_id"
    )
    variants = {
        row["tenant_id"]: row["champion_variant"] for row in champions.to_arrow_table().to_pylist()
    }
    settings = dbt.ref("tenant_settings").to_arrow_table().to_pylist()
    # no list depth: the weights kept per item follow from the settings and the items fitted
    jobs = [
        candidates.Job(row["tenant_id"], "ease", 0, row, variants[row["tenant_id"]])
        for row in settings
        if row["tenant_id"] in variants
    ]

    def shard(only):
        interactions = candidates.fold_interactions(only(weighted), "full")
        return candidates.ease_neighbours(interactions, jobs)

    full = weighted.filter("fold = 'full'")
    return shards.build(session, "ease_weights", shards.rows_per_tenant(full), shard)
