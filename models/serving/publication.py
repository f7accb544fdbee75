"""Publishes the served database; the last model of every build. One row per published view.

All the work is in recsql/build/publish.py. dbt skips this model when anything it depends on failed,
including the data tests on those models: a failed build never replaces the served file.
"""

from recsql.build.publish import publish


def model(dbt, session):
    dbt.config(materialized="table")
    # Each table is sorted by tenant first, so that a query for one tenant reads only the row
    # groups holding it (DuckDB skips the others by their min/max), however many tenants share
    # the file. (dbt needs every ref spelled out.)
    tables = {
        "recommendations": dbt.ref("recommendations").order("tenant_id, customer_id, rank"),
        "buy_again": dbt.ref("buy_again").order("tenant_id, customer_id, rank"),
        "similar_items": dbt.ref("similar_items").order("tenant_id, item_id, rank"),
        "popular_items": dbt.ref("popular_items").order("tenant_id, country nulls first, rank"),
        "visitor_popular_items": dbt.ref("visitor_popular_items").order(
            "tenant_id, country nulls first, rank"
        ),
        "trending_items": dbt.ref("trending_items").order("tenant_id, rank"),
        "items": dbt.ref("stg_items").order("tenant_id, item_id"),
        "model_evaluations": dbt.ref("model_evaluations").order(
            "tenant_id, shelf, algorithm, variant, metric"
        ),
        "tenant_champions": dbt.ref("tenant_champions").order("tenant_id"),
        "rule_decisions": dbt.ref("rule_decisions").order("tenant_id, shelf, rule, action"),
        "quarantined_rows": dbt.ref("quarantined_rows").order("tenant_id, source_table"),
        "input_row_counts": dbt.ref("input_row_counts").order("tenant_id, source_table"),
        "tenant_settings": dbt.ref("tenant_settings").order("tenant_id"),
        # what lists made at query time need (recsql/serving and the macros): who the tenant
        # knows and their rule class (customer_rule_states; visitors per country), the
        # build's verdicts per rule class and item, each customer's shelves, what they bought
        # (never offered again on discover), the items' rule states, salted hashes of the
        # erased customers, and the ALS item factors (to fold in a customer the build never
        # saw)
        "customer_rule_states": dbt.ref("customer_rule_states").order(
            "tenant_id, customer_id nulls first, country"
        ),
        "visitor_rule_states": dbt.ref("customer_rule_states")
        .filter("is_visitor")
        .project("tenant_id, country, nothing_rule, rule_class")
        .order("tenant_id, country nulls first"),
        "rule_class_verdicts": dbt.ref("rule_class_verdicts").order(
            "tenant_id, rule_class, item_id"
        ),
        "customer_shelves": dbt.ref("customer_shelves").order("tenant_id, customer_id, shelf"),
        "item_rule_states": dbt.ref("item_rule_states").order("tenant_id, item_id"),
        "erased_customers": dbt.ref("erased_customers").order("tenant_id, customer_hash"),
        "bought_items": dbt.ref("int_interactions_weighted")
        .filter("fold = 'full' and purchase_occasions > 0")
        .project("tenant_id, customer_id, item_id")
        .order("tenant_id, customer_id, item_id"),
        "item_factors": dbt.ref("als_factors")
        .filter("entity = 'item'")
        .project("tenant_id, entity_id as item_id, factors")
        .order("tenant_id, item_id"),
    }
    return publish(session, tables, dbt.config.get("publish_path"))
