"""One row per tenant, shelf, customer and candidate a category cap removes, with the cap rule
that removed it (`capped_by`): walking each list in order (list_candidates.list_position), an
item is kept when every cap counting it still has room among the items kept before it
(recsql/rules/caps.py). Only candidates a cap counts are walked: the others cannot be removed
and do not count."""

import pyarrow.compute as pc

from recsql.engine import shards
from recsql.rules import caps

KEY = ("tenant_id", "shelf", "customer_id")


def model(dbt, session):
    dbt.config(materialized="table")
    counted = dbt.ref("list_candidates").filter("list_position is not null and len(caps) > 0")

    def shard(only):
        walked = caps.apply(
            only(counted)
            .project("tenant_id, shelf, customer_id, item_id, list_position, category, caps")
            .order("tenant_id, shelf, customer_id, list_position")
            .to_arrow_table(),
            KEY,
        )
        removed = walked.filter(pc.is_valid(walked.column("capped_by")))
        return removed.select([*KEY, "item_id", "list_position", "capped_by"])

    # the lists are judged after the engine's journal is read: a failure here stops the build
    sizes = shards.rows_per_tenant(counted)
    return shards.build(session, "list_cap_removals", sizes, shard, recorded=False)
