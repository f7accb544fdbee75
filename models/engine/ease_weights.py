"""One row per tenant, item and neighbour: the `ease_neighbours` weights largest in magnitude of
each item (by default 2 % of the items fitted, at least 100) in EASE fitted on the full
history, for the tenants trained in this build whose champion is EASE — what their version
stores and serves from (customer_candidates scores from these, never from the dense fit).
`algorithm` is what the version stores them as: 'ease'; a blend champion (variant 'blend
ranked') has both EASE variants' weights, its second variant's as 'ease binary'
(recsql/engine/blend.py). All the logic is in recsql/engine/candidates.py."""

import pyarrow as pa

from recsql.engine import blend, candidates, shards


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
    # no list depth: the weights kept per item follow from the settings and the items fitted;
    # each variant's weights stored as their algorithm (a blend's: each of its variants')
    jobs = {}
    for row in settings:
        if row["tenant_id"] not in variants:
            continue
        variant = variants[row["tenant_id"]]
        makers = blend.MAKERS if blend.is_blend(variant) else (variant,)
        for maker in makers:
            stored_as = blend.stored_algorithm(maker) if blend.is_blend(variant) else "ease"
            jobs.setdefault(stored_as, []).append(
                candidates.Job(row["tenant_id"], "ease", 0, row, maker)
            )

    def shard(only):
        interactions = candidates.fold_interactions(only(weighted), "full")
        tables = []
        for stored_as, stored_jobs in jobs.items():
            of_jobs = candidates.of_tenants(interactions, (job.tenant_id for job in stored_jobs))
            found = candidates.ease_neighbours(of_jobs, stored_jobs)
            tables.append(found.append_column("algorithm", pa.repeat(stored_as, found.num_rows)))
        return pa.concat_tables(tables) if tables else _empty()

    full = weighted.filter("fold = 'full'")
    return shards.build(session, "ease_weights", shards.rows_per_tenant(full), shard)


def _empty():
    schema = candidates.NEIGHBOURS_SCHEMA.append(pa.field("algorithm", pa.string()))
    return schema.empty_table()
