"""One row per enabled business rule: its conditions as they run, re-rendered by the guard from
their syntax trees (recsql/rules/guard.py). A condition the guard refuses, or that is not a
boolean condition on its table, fails the build here for a rule of every tenant ('*'), naming
the rule and the offending part, before anything is published; a tenant's own such rule is a
row with its `refusal` and no conditions (it never runs), and fails its tenant
(tenant_failures)."""

from recsql.rules import matches as rule_matches


def model(dbt, session):
    dbt.config(materialized="table")
    rules = dbt.ref("stg_rules")
    refused = []
    guarded = rule_matches.guard_rules(
        rules.to_arrow_table().to_pylist(),
        dbt.ref("customer_profiles"),
        dbt.ref("stg_items"),
        refused,
    )
    return rule_matches.to_table(guarded, refused)
