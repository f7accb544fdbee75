"""One row per enabled business rule: its conditions as they run, re-rendered by the guard from
their syntax trees (recsql/rules/guard.py). A condition the guard refuses fails the build here,
naming the tenant, the rule and the offending part, before anything is published."""

from recsql.rules import matches as rule_matches


def model(dbt, session):
    dbt.config(materialized="table")
    rules = dbt.ref("stg_rules")
    customers = dbt.ref("customer_profiles")
    items = dbt.ref("stg_items")
    guarded = rule_matches.guard_rules(
        rules.to_arrow_table().to_pylist(), customers.columns, items.columns
    )
    return rule_matches.to_table(guarded)
