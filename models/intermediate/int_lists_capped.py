"""One row per tenant, shelf, customer and allowed candidate, in list order, with the cap rule
that removed it (`capped_by`; NULL = kept): walking each list in order, an item is kept when
every cap counting it still has room among the items kept before it (recsql/caps.py)."""

from recsql import caps


def model(dbt, session):
    dbt.config(materialized="table")
    ordered = dbt.ref("int_lists_ordered").order("list_id, list_position")
    return caps.apply(ordered.to_arrow_table())
