{#- One row per tenant the build carries (tenant_plans: hold, carried) without staging its
    interactions: decided before they are validated, from their raw rows, so that a night
    whose tenants mostly did not change validates only the interactions of those that did
    (docs/lifecycle.md, "Lists kept while nothing changed").

    A tenant is carried here when tenant_plans would carry it, judged from what is known
    without its interactions: its raw interaction rows are those its published lists were
    read from (the sums of their hashes as read from Parquet, stg_interactions_hashed, against
    the one the served file's tenant_inputs keeps), none of them was in the future at that
    build and the clock did not go back (so the same rows are accepted: the interactions' part
    of its fingerprint is the published one), the rest of its inputs, its settings and the code
    give the published fingerprint, the version serving it made those lists, and it has no
    interaction after that version's data (nor after its candidate's): so tenant_plans
    measures no new interaction, no drift and no customer who bought after a candidate's data,
    and decides its trigger (macro plan_trigger) from what is decided here - one of the
    triggers that carry (carried_triggers), with no operator's request, or not_selected (left
    out by `recsql build --tenants`: held, not carried, its rows as exact).

    A tenant whose interactions are streamed (CSV files, or with the HTTP API's event log) is
    never carried here: they are staged as before.
    tenant_plans holds every tenant listed here; tests/dbt checks that each is held. -#}
{{ config(materialized='table') }}
with

settings as (
    select
        tenant_id,
        mode,
        retrain_every_days,
        retrain_new_data_share,
        retrain_drift,
        promotion_min_customers,
        to_json(settings) as settings_json
    from {{ ref('stg_tenant_settings') }} as settings  -- noqa: AL05
),

active as (
    select * from {{ source('lifecycle_state', 'active_versions') }}
    where is_stored
),

candidates as (
    select tenant_id, version, data_until from {{ source('lifecycle_state', 'candidate_versions') }}
),

published as (
    select * from {{ source('published', 'tenant_inputs') }}
),

-- the tenants whose raw interaction rows are those their published lists were read from
unchanged_rows as (
    select published.*
    from published
    inner join {{ ref('stg_interactions_hashed') }} as hashed
        on published.tenant_id = hashed.tenant_id
            and published.raw_interactions_hash = hashed.raw_rows_hash
    where
        published.future_interactions = 0
        and published.lists_as_of <= {{ build_time() }}
        and published.interactions_hash is not null
),

-- their fingerprints, with the interactions' part their published lists were made from
summed as (
    select tenant_id, input_table, rows_hash from {{ ref('stg_input_hashes') }}
    union all
    select tenant_id, 'interactions' as input_table, interactions_hash::hugeint as rows_hash
    from unchanged_rows
),

unchanged_settings as (
    select tenant_id, settings_json from settings
    where tenant_id in (select tenant_id from unchanged_rows)
),

fingerprints as (
    {{ input_fingerprint('unchanged_settings', 'summed') }}
),

-- the keys of its erasure requests, as erasure_removals makes them for tenant_plans
erasures as (
    select tenant_id, count(*) as erasures, list(request_key order by request_key) as erasure_keys
    from (
        select
            tenant_id,
            recsql_erasure_key(tenant_id, customer_id) as request_key
        from {{ ref('stg_erasure_requests') }}
        where tenant_id in (select tenant_id from unchanged_rows)
        group by tenant_id, customer_id
    )
    group by tenant_id
),

-- the measures tenant_plans takes of a tenant with no interaction after its version's data
measured as (
    select
        settings.tenant_id,
        settings.mode,
        settings.retrain_every_days,
        settings.retrain_new_data_share,
        settings.retrain_drift,
        settings.promotion_min_customers,
        null as failure,
        active.version,
        active.is_pinned,
        active.operator_request_id,
        active.operator_action,
        date_diff('second', active.trained_at, {{ build_time() }}) / 86400.0 as age_days,
        0 as new_interactions,
        0.0 as new_share,
        0.0 as drift,
        {{ has_new_erasures('active', 'erasures.erasure_keys', 'erasures.erasures') }}
            as has_new_erasures,
        candidates.version as candidate_version,
        0 as window_customers,
        unchanged_rows.interactions_hash
    from unchanged_rows
    inner join settings on unchanged_rows.tenant_id = settings.tenant_id
    inner join fingerprints
        on unchanged_rows.tenant_id = fingerprints.tenant_id
            and unchanged_rows.input_fingerprint = fingerprints.input_fingerprint
    inner join active
        on unchanged_rows.tenant_id = active.tenant_id
            and unchanged_rows.lists_version = active.version
            and unchanged_rows.interactions_until = active.data_until
    left join candidates on unchanged_rows.tenant_id = candidates.tenant_id
    left join erasures on unchanged_rows.tenant_id = erasures.tenant_id
    where candidates.version is null or unchanged_rows.interactions_until <= candidates.data_until
),

decided as (
    select *, {{ plan_trigger() }} as trigger
    from measured
),

final as (
    select tenant_id, interactions_hash
    from decided
    where
        operator_request_id is null
        -- or left out by --tenants: held either way, its published rows are exact
        and (trigger in {{ carried_triggers() }} or trigger = 'not_selected')
)

select * from final
