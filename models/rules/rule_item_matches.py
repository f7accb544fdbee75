"""One row per enabled business rule and item its item_condition matches (every item of the
rule's tenant, or of every tenant for tenant_id '*', when the condition is empty), running the
conditions the guard re-rendered (rules_guarded). Logic: recsql/rules/matches.py."""

from recsql.rules import matches as rule_matches


def model(dbt, session):
    dbt.config(materialized="table")
    rules = rule_matches.from_table(dbt.ref("rules_guarded").to_arrow_table())
    return rule_matches.match(dbt.ref("stg_items"), rules, "item")
