"""One row per tenant served fresh lists, customer and rank: the new items (int_item_content's
`is_new`) most like what the customer interacted with, by content, `candidates_n` deep - the
pool of the `new_for_you` shelf (list_candidates). `because_item_id`: the history item most like
it. All the logic is in recsql/engine/new_items.py."""

from recsql.engine import new_items, shards


def model(dbt, session):
    dbt.config(materialized="table")
    content = dbt.ref("int_item_content")
    # only the tenants with a new item have anything to score
    with_new = content.filter("is_new").project("tenant_id").distinct()
    histories = (
        dbt.ref("int_interactions_weighted")
        .filter("fold = 'full' and affinity > 0")
        .project("tenant_id, customer_id, item_id")
        .join(with_new, "tenant_id")
    )
    depths = dict(dbt.ref("tenant_settings").project("tenant_id, candidates_n").fetchall())

    def shard(only):
        return new_items.candidates(
            only(content).order("tenant_id, item_id, feature").to_arrow_table(),
            only(histories).order("tenant_id, customer_id, item_id").to_arrow_table(),
            depths,
        )

    return shards.build(session, "new_item_candidates", shards.rows_per_tenant(histories), shard)
