"""One row per tenant, customer and rank: the top `candidates_n` items the model of the tenant's
active version recommends on today's full histories, for versions whose champion is a matrix
algorithm — scored from the version's stored model, never a fresh fit (one scoring path for a
version trained tonight and one kept for months): EASE from its largest weights per item
(active_item_neighbours), ALS from its item factors with each customer folded in
(active_item_factors). Where the version's champion is ranked, its learned ranker re-orders
each customer's candidates (active_rankers, with the item features of the version:
active_ranking_item_features, and the context of today's purchases and items, the items aged
as of the version's data). A blend version (EASE's variant 'blend ranked') serves the union of
its two variants' candidates, each from its stored weights, ranked by its blend. Co-occurrence
candidates are SQL (cooccurrence_candidates). All the logic is in recsql/engine/candidates.py,
recsql/engine/ranker.py and recsql/engine/blend.py."""

import json

import pyarrow as pa
import pyarrow.compute as pc

from recsql.engine import blend, candidates, ranker, shards

MATRIX_ALGORITHMS = ("als", "ease")


def model(dbt, session):
    dbt.config(materialized="table")
    weighted = dbt.ref("int_interactions_weighted").filter("fold = 'full'")
    depth = dict(dbt.ref("tenant_settings").project("tenant_id, candidates_n").fetchall())
    # the model as the version was trained (its parameters), as deep as today's settings say
    # (a blend's job: its settings and depth, for blend.serve)
    jobs, blend_jobs = [], []
    for row in dbt.ref("active_models").to_arrow_table().to_pylist():
        if row["algorithm"] in MATRIX_ALGORITHMS:
            tenant_id = row["tenant_id"]
            job = candidates.Job(
                tenant_id,
                row["algorithm"],
                depth[tenant_id],
                json.loads(row["parameters"]),
                row["variant"],
            )
            (blend_jobs if blend.is_blend(row["variant"]) else jobs).append(job)
    blended = {job.tenant_id for job in blend_jobs}
    neighbours = dbt.ref("active_item_neighbours").project(
        "tenant_id, algorithm, item_id, neighbour_item_id, weight"
    )

    def stored_as(algorithm):
        """The EASE weights the versions store as ``algorithm`` (filtered as DuckDB scans)."""
        return neighbours.filter(f"algorithm = '{algorithm}'").project(
            "tenant_id, item_id, neighbour_item_id, weight"
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
        interactions = candidates.fold_interactions(only(weighted), "full")
        held = set(pc.unique(interactions["tenant_id"]).to_pylist())
        blends_here = blended & held
        ease = only(stored_as("ease")).to_arrow_table()
        found = candidates.recommend_stored(
            candidates.of_tenants(interactions, held - blends_here),
            jobs,
            ease,
            only(factors).to_arrow_table(),
        )
        if not rankers:
            return found
        served = set(pc.unique(found["tenant_id"]).to_pylist()) | blends_here
        ranked = {tenant: at for tenant, at in data_until.items() if tenant in served}
        contexts = ranker.fold_contexts(weighted, items, "full", ranked)
        features = only(item_features).to_arrow_table()
        single = {tenant: w for tenant, w in rankers.items() if tenant not in blended}
        found = ranker.rerank(found, single, features, contexts)
        if not blends_here:
            return found
        # each blend's variants from their own stored weights, their union ranked by it
        weights = [
            ease if algorithm == "ease" else only(stored_as(algorithm)).to_arrow_table()
            for algorithm in map(blend.stored_algorithm, blend.MAKERS)
        ]
        made = blend.serve(
            candidates.of_tenants(interactions, blends_here),
            blend_jobs,
            weights,
            {tenant: rankers[tenant] for tenant in blends_here if tenant in rankers},
            features,
            contexts,
        )
        return pa.concat_tables([found, made])

    matrix_tenants = dbt.ref("active_models").filter(
        "algorithm in (" + ", ".join(f"'{name}'" for name in MATRIX_ALGORITHMS) + ")"
    )
    sizes = shards.rows_per_tenant(weighted.join(matrix_tenants.project("tenant_id"), "tenant_id"))
    return shards.build(session, "customer_candidates", sizes, shard)
