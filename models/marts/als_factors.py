"""One row per tenant, entity ('customer' or 'item') and id: ALS factors fitted on the full
history of every tenant, as fixed-size float arrays (zero-padded to the widest tenant). The
served database keeps the item factors, so a customer the build never saw can be folded into
the model from the items they look at. All the logic is in recsql/candidates.py."""

from recsql import candidates


def model(dbt, session):
    dbt.config(materialized="table")
    interactions = (
        dbt.ref("int_interactions_weighted")
        .filter("fold = 'full'")
        .project("tenant_id, customer_id, item_id, affinity, purchase_occasions")
        .order("tenant_id, customer_id, item_id")
        .to_arrow_table()
    )
    settings = dbt.ref("tenant_settings").to_arrow_table().to_pylist()
    jobs = [candidates.Job(row["tenant_id"], "als", 0, row) for row in settings]
    return candidates.factorize(interactions, jobs)
