"""One row per tenant, customer and rank: the top `candidates_n` items the model of the tenant's
active version recommends on today's full histories, for versions whose champion is a matrix
algorithm — scored from the version's stored model, never a fresh fit (one scoring path for a
version trained tonight and one kept for months): EASE from its largest weights per item
(active_item_neighbours), ALS from its item factors with each customer folded in
(active_item_factors). Where the version's champion is ranked, its learned ranker re-orders
each customer's candidates (active_rankers, with the item features of the version:
active_ranking_item_features, and the context of today's purchases and items, the items aged
as of the version's data). Co-occurrence candidates are SQL (cooccurrence_candidates).
All the logic is in recsql/engine/candidates.py and recsql/engine/ranker.py."""

import json

import pyarrow.compute as pc

from recsql.engine import candidates, ranker, shards

MATRIX_ALGORITHMS = ("als", "ease")


def model(dbt, session):
    dbt.config(materialized="table")
    weighted = dbt.ref("int_interactions_weighted").filter("fold = 'full'")
    depth = dict(dbt.ref("tenant_settings").project("tenant_id, candidates_n").fetchall())
    jobs = [
        # the model as the version was trained (its parameters), as deep as today's settings say
        candidates.Job(
            row["tenant_id"],
            row["algorithm"],
            depth[row["tenant_id"]],
            json.loads(row["parameters"]),
            row["variant"],
        )
        for row in dbt.ref("active_models").to_arrow_table().to_pylist()
        if row["algorithm"] in MATRIX_ALGORITHMS
    ]
    neighbours = (
        dbt.ref("active_item_neighbours")
        .filter("algorithm = 'ease'")
        .project("tenant_id, item_id, neighbour_item_id, weight")
    )
    factors = dbt.ref("active_item_factors").project("tenant_id, item_id, factors")
    rankers = dict(dbt.ref("active_rankers").project("tenant_id, weights").fetchall())
    item_features = dbt.ref("active_ranking_item_features")
    # the ranker's context: today's purchases and the items, items aged as of the version's data
    items = dbt.ref("stg_items")
    data_until = dict(
        dbt.ref("active_models")
        .join(dbt.ref("active_rankers").project("tenant_id"), "tenant_id", how="semi")
        .project("tenant_id, data_until")
        .fetchall()
    )

    def shard(only):
        # the stored models in any order (recommend_stored groups them by tenant): sorted by
        # DuckDB they came 3 s sooner for 1,000 tenants, but its sort's memory on top of the
        # Arrow rows took a 4,000-tenant build over its budget (8.5 of 8 GiB)
        found = candidates.recommend_stored(
            candidates.fold_interactions(only(weighted), "full"),
            jobs,
            only(neighbours).to_arrow_table(),
            only(factors).to_arrow_table(),
        )
        if not rankers:
            return found
        served = set(pc.unique(found["tenant_id"]).to_pylist())
        ranked = {tenant: at for tenant, at in data_until.items() if tenant in served}
        contexts = ranker.fold_contexts(weighted, items, "full", ranked)
        return ranker.rerank(found, rankers, only(item_features).to_arrow_table(), contexts)

    matrix_tenants = dbt.ref("active_models").filter(
        "algorithm in (" + ", ".join(f"'{name}'" for name in MATRIX_ALGORITHMS) + ")"
    )
    sizes = shards.rows_per_tenant(weighted.join(matrix_tenants.project("tenant_id"), "tenant_id"))
    return shards.build(session, "customer_candidates", sizes, shard)
