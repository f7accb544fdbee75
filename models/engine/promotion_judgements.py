"""One row per tenant whose candidate version the promotion gate judges this build (tenant_plans
trigger 'promotion'): the candidate and the active version, each scored from its stored model
on the customers' histories up to the candidate's data_until, against what they bought after
it — NDCG@k of both, the verdict (promoted or rejected) and why. All the logic is in
recsql/lifecycle/promotion.py; the state records the verdict (docs/lifecycle.md)."""

from recsql.engine import shards
from recsql.lifecycle import promotion


def model(dbt, session):
    dbt.config(materialized="table")
    judged_ids = dbt.ref("tenant_plans").filter("trigger = 'promotion'").project("tenant_id")
    plans = dbt.ref("tenant_plans").filter("trigger = 'promotion'").to_arrow_table().to_pylist()
    if not plans:  # most builds: nothing to judge
        return promotion.JUDGEMENTS_SCHEMA.empty_table()
    # the judged versions' stored models are read into Python: DuckDB gets half the budget
    shards.python_memory_limit(session)

    def of_judged(relation):
        """The rows of the judged tenants only."""
        return relation.join(judged_ids, "tenant_id", how="semi")

    active = dbt.source("lifecycle_state", "active_versions")
    candidates = dbt.source("lifecycle_state", "candidate_versions")
    versions = {
        (row["tenant_id"], row["version"]): row
        for relation in (active, candidates)
        for row in of_judged(relation)
        .project("tenant_id, version, algorithm, variant, parameters, data_until")
        .to_arrow_table()
        .to_pylist()
    }
    settings = {
        row["tenant_id"]: row
        for row in of_judged(dbt.ref("tenant_settings"))
        .project("tenant_id, k, history_cap, half_life_days, promotion_margin")
        .to_arrow_table()
        .to_pylist()
    }
    forms = {
        "neighbours": dbt.source("lifecycle_state", "stored_neighbours"),
        "factors": dbt.source("lifecycle_state", "stored_factors"),
        "popularity": dbt.source("lifecycle_state", "stored_popularity"),
        "trends": dbt.source("lifecycle_state", "stored_trends"),
        "rankers": dbt.source("lifecycle_state", "stored_rankers"),
    }
    return promotion.judge(
        promotion.judged_tenants(plans, versions, settings),
        dbt.ref("int_judging_interactions").to_arrow_table(),
        of_judged(dbt.ref("stg_items"))
        .project("tenant_id, item_id, category, price")
        .to_arrow_table(),
        {form: of_judged(relation).to_arrow_table() for form, relation in forms.items()},
    )
