"""Publishes the served database; the last model of every build. One row per published view.

All the work is in recsql/publish.py. dbt skips this model when anything it depends on failed,
including the data tests on those models: a failed build never replaces the served file.
"""

from recsql.publish import publish


def model(dbt, session):
    dbt.config(materialized="table")
    tables = {
        "recommendations": dbt.ref("recommendations"),
        "buy_again": dbt.ref("buy_again"),
        "similar_items": dbt.ref("similar_items"),
        "popular_items": dbt.ref("popular_items"),
        "trending_items": dbt.ref("trending_items"),
        "items": dbt.ref("stg_items"),
        "model_evaluations": dbt.ref("model_evaluations"),
        "tenant_champions": dbt.ref("tenant_champions"),
        "rule_decisions": dbt.ref("rule_decisions"),
        "quarantined_rows": dbt.ref("quarantined_rows"),
        "input_row_counts": dbt.ref("input_row_counts"),
        "tenant_settings": dbt.ref("tenant_settings"),
    }
    return publish(session, tables, dbt.config.get("publish_path"))
