"""One row per tenant, customer short of k discover items and refill item kept after caps, in
refill order: the caps count the items the list already holds first (recsql/rules/caps.py)."""

import pyarrow.compute as pc

from recsql.rules import caps


def model(dbt, session):
    dbt.config(materialized="table")
    lists = dbt.ref("int_discover_refill_judged").order("tenant_id, customer_id, list_position")
    capped = caps.apply(lists.to_arrow_table(), ("tenant_id", "customer_id"), already="is_held")
    refilled = pc.and_(pc.is_null(capped.column("capped_by")), pc.invert(capped.column("is_held")))
    return capped.filter(refilled)
