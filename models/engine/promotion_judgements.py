"""One row per tenant whose candidate version the promotion gate judges this build (tenant_plans
trigger 'promotion'): the candidate and the active version, each scored from its stored model
on the customers' histories up to the candidate's data_until, against what they bought after
it — NDCG@k of both, the verdict (promoted or rejected) and why. All the logic is in
recsql/lifecycle/promotion.py; the state records the verdict (docs/lifecycle.md)."""

from recsql.lifecycle import promotion


def model(dbt, session):
    dbt.config(materialized="table")
    plans = dbt.ref("tenant_plans").filter("trigger = 'promotion'").to_arrow_table().to_pylist()
    active = dbt.source("lifecycle_state", "active_versions")
    candidates = dbt.source("lifecycle_state", "candidate_versions")
    versions = {
        (row["tenant_id"], row["version"]): row
        for relation in (active, candidates)
        for row in relation.project("tenant_id, version, algorithm, variant, parameters")
        .to_arrow_table()
        .to_pylist()
    }
    settings = {
        row["tenant_id"]: row
        for row in dbt.ref("tenant_settings")
        .project("tenant_id, k, history_cap, half_life_days, promotion_margin")
        .to_arrow_table()
        .to_pylist()
    }
    judged = promotion.judged_tenants(plans, versions, settings)
    judged_ids = dbt.ref("tenant_plans").filter("trigger = 'promotion'").project("tenant_id")
    forms = {
        "neighbours": dbt.source("lifecycle_state", "stored_neighbours"),
        "factors": dbt.source("lifecycle_state", "stored_factors"),
        "popularity": dbt.source("lifecycle_state", "stored_popularity"),
    }
    return promotion.judge(
        judged,
        dbt.ref("int_judging_interactions").to_arrow_table(),
        {
            form: relation.join(judged_ids, "tenant_id", how="semi").to_arrow_table()
            for form, relation in forms.items()
        },
    )
