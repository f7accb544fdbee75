"""Publishes the served database; the last model of every build. One row per published view.

All the work is in recsql/build/publish.py. dbt skips this model when anything it depends on failed,
including the data tests on those models: a failed build never replaces the served file.
"""

from pathlib import Path

from recsql import __version__
from recsql.build.dbt_plugin import PREVIOUS, STATE
from recsql.build.publish import Kept, Published, StateRecord, publish
from recsql.lifecycle import state
from recsql.sql import literal


def model(dbt, session):
    dbt.config(materialized="table")
    # the build's id and clock, in the published file and (with recsql build) in the state
    context = dbt.ref("build_context")
    [build] = context.to_arrow_table().to_pylist()
    build_id, as_of = build["build_id"], build["as_of"]
    build_info = context.project(f"build_id, as_of, {literal(__version__)} as recsql_version")
    # Each table with the order it is written in: tenant first (Published). (dbt needs every
    # ref spelled out.)
    tables = {
        "recommendations": Published(dbt.ref("recommendations"), "tenant_id, customer_id, rank"),
        "buy_again": Published(dbt.ref("buy_again"), "tenant_id, customer_id, rank"),
        "new_for_you": Published(dbt.ref("new_for_you"), "tenant_id, customer_id, rank"),
        "similar_items": Published(dbt.ref("similar_items"), "tenant_id, item_id, rank"),
        "popular_items": Published(
            dbt.ref("popular_items"), "tenant_id, country nulls first, rank"
        ),
        "visitor_popular_items": Published(
            dbt.ref("visitor_popular_items"), "tenant_id, country nulls first, rank"
        ),
        "trending_items": Published(dbt.ref("trending_items"), "tenant_id, rank"),
        "items": Published(dbt.ref("stg_items"), "tenant_id, item_id"),
        "model_evaluations": Published(
            dbt.ref("model_evaluations"), "tenant_id, shelf, algorithm, variant, metric"
        ),
        "tenant_champions": Published(dbt.ref("tenant_champions"), "tenant_id"),
        "rule_decisions": Published(dbt.ref("rule_decisions"), "tenant_id, shelf, rule, action"),
        "quarantined_rows": Published(dbt.ref("quarantined_rows"), "tenant_id, source_table"),
        "input_row_counts": Published(dbt.ref("input_row_counts"), "tenant_id, source_table"),
        "tenant_settings": Published(dbt.ref("tenant_settings"), "tenant_id"),
        "build_info": Published(build_info),
        # what lists made at query time need (recsql/serving and the macros): who the tenant
        # knows and their rule class (customer_rule_states; visitors per country), the
        # build's verdicts per rule class and item, each customer's shelves, what they bought
        # (never offered again on discover), the items' rule states, salted hashes of the
        # erased customers, and the ALS item factors (to fold in a customer the build never
        # saw)
        # replaced row by row in place: a birthday changes a customer's row, not the tenant's
        "customer_rule_states": Published(
            dbt.ref("customer_rule_states"),
            "tenant_id, customer_id nulls first, country",
            by_row=True,
        ),
        "visitor_rule_states": Published(
            dbt.ref("customer_rule_states")
            .filter("is_visitor")
            .project("tenant_id, country, nothing_rule, rule_class"),
            "tenant_id, country nulls first",
        ),
        "rule_class_verdicts": Published(
            dbt.ref("rule_class_verdicts"), "tenant_id, rule_class, item_id"
        ),
        "customer_shelves": Published(dbt.ref("customer_shelves"), "tenant_id, customer_id, shelf"),
        "item_rule_states": Published(dbt.ref("item_rule_states"), "tenant_id, item_id"),
        "erased_customers": Published(dbt.ref("erased_customers"), "tenant_id, customer_hash"),
        "bought_items": Published(dbt.ref("bought_items"), "tenant_id, customer_id, item_id"),
        "item_factors": Published(dbt.ref("served_item_factors"), "tenant_id, item_id"),
        # the inputs each tenant's lists were made from: the next build keeps the lists of a
        # tenant whose inputs are still these (models/lifecycle/tenant_plans: carried)
        "tenant_inputs": Published(dbt.ref("tenant_inputs"), "tenant_id"),
    }
    # the model registry, build history and tenant status: this build's rows with those the
    # state database keeps (a plain dbt build has no state: its versions are the first)
    state_path = Path(build["state_path"]) if build["state_path"] else None
    # the stored models of the versions this build trained: what the state keeps of them
    trained_forms = {
        "neighbours": dbt.ref("trained_item_neighbours"),
        "factors": dbt.ref("trained_item_factors"),
        "popularity": dbt.ref("trained_item_popularity"),
        "trends": dbt.ref("trained_item_trends"),
        "repurchase": dbt.ref("trained_repurchase_models"),
        "rankers": dbt.ref("trained_rankers"),
    }
    # a tenant that failed once the engine ran (a model that could not be fitted, fresh lists
    # that broke a compliance guarantee) was held (its lists are the published ones), and what
    # was trained for it is not kept
    failed = dbt.ref("tenant_late_failures").project("tenant_id, reason as failure")
    # seconds the engine spent on each tenant's models (the SQL work is shared, not apportioned)
    fit_seconds = dbt.ref("engine_runs").aggregate(
        "tenant_id, round(sum(seconds), 3) as fit_seconds", "tenant_id"
    )
    plans = (
        dbt.ref("tenant_plans")
        .join(failed, "tenant_id", how="left")
        .join(fit_seconds, "tenant_id", how="left")
        .project(
            "tenant_id, mode, "
            "if(failure is null, action, 'hold') as action, "
            "if(failure is null, trigger, 'failed') as trigger, "
            "coalesce(failure || '; serves the lists it was published with, minus the rows "
            "today''s rules forbid', reason) as reason, "
            "new_version_status, keep_versions, active_version, candidate_version, "
            "if(failure is null, operator_request_id, null) as operator_request_id, "
            "operator_action, operator_why, fit_seconds, carried"
        )
    )
    update = state.pending(
        state_path,
        build_id,
        as_of,
        trained=dbt.ref("trained_versions").to_arrow_table(),
        plans=plans.to_arrow_table(),
        judgements=dbt.ref("promotion_judgements").to_arrow_table(),
        # streamed into the state when it is written, never held in memory all at once
        forms=trained_forms,
        # the erasure requests it applied, by their keys: no customer id leaves the build
        erasures=dbt.ref("erasure_removals").project("* exclude (customer_id)").to_arrow_table(),
    )
    # the tenants kept whole (models/lifecycle/kept_tenants): the served file's rows of theirs
    # are what this build would make, but for what is made for every tenant: their rule
    # states (a customer's age moves with the clock) and shelves, and what the rules did and
    # the evaluations chose in this build (none for a held tenant); and what the state records
    made_for_all = {
        "customer_rule_states",
        "visitor_rule_states",
        "customer_shelves",
        "rule_decisions",
        "model_evaluations",
        "tenant_champions",
        "build_info",
    }
    kept = Kept(dbt.ref("kept_tenants").to_arrow_table(), frozenset(tables) - made_for_all)
    # row by row in place: a history grows by a row per tenant a night, a tenant's registry by
    # a version now and then (their tenants' other rows stay)
    tables["model_registry"] = Published(session.from_arrow(update.registry), by_row=True)
    tables["build_history"] = Published(session.from_arrow(update.history), by_row=True)
    tables["tenant_status"] = Published(session.from_arrow(update.status))
    tables["erasure_log"] = Published(session.from_arrow(update.erasure_log), by_row=True)
    record = StateRecord(state_path, build_id, update) if state_path else None
    # the served file the held tenants' rows were read from (recsql/build/dbt_plugin.py) is
    # let go before the new one replaces it
    session.execute(f"detach database if exists {PREVIOUS}")
    # and the state the stored models were read from: the publication writes to it
    session.execute(f"detach database if exists {STATE}")
    # the last check before the swap: no published table names a customer who asked to be
    # forgotten
    erased = dbt.ref("stg_erasure_requests").project("tenant_id, customer_id")
    # the file is written in full when the build applies an erasure request for the first
    # time: rows deleted by an update in place keep their bytes in the file
    in_place = update.erasures.num_rows == 0
    return publish(
        session, tables, build["publish_path"], record, erased=erased, in_place=in_place, kept=kept
    )
