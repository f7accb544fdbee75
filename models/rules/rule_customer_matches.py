"""One row per enabled business rule and customer its customer_condition matches (every customer
of the rule's tenant, or of every tenant for tenant_id '*', when the condition is empty),
running the conditions the guard re-rendered (rules_guarded). Visitors (visitor_profiles) have
customer_id NULL and are told apart by `country`. Logic: recsql/rules/matches.py."""

from recsql.rules import matches as rule_matches


def model(dbt, session):
    dbt.config(materialized="table")
    rules = rule_matches.from_table(dbt.ref("rules_guarded").to_arrow_table())
    people = dbt.ref("customer_profiles").union(dbt.ref("visitor_profiles"))
    return rule_matches.match(people, rules, "customer", carry=("country",))
