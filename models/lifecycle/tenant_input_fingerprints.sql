{#- One row per tenant: a fingerprint of everything its lists are made from — its accepted rows
    of every input table (interactions, the HTTP API's events among them, items, customers,
    customer_flags, item_restrictions, consents, erasure_requests), its rules and those of every
    tenant (`*`), its settings, and the code that makes the lists (var code_fingerprint: recsql's
    version and files, recsql/build/runner.py). The same rows give the same fingerprint in any
    order, file or folder; a row that is added, removed or changed gives another. A tenant that
    no trigger makes due and whose fingerprint is the one its published lists were made from
    keeps those lists (tenant_plans: carried; docs/lifecycle.md). A tenant carried before its
    interactions were staged (stg_carried_tenants) has the interactions' part its
    published lists were made from: its raw rows are those they were read from. Also each
    tenant's interactions' part (`interactions_hash`), which the published file keeps. -#}
with

-- per tenant, the sum of its accepted interactions' hashes (order-free, two equal rows do
-- not cancel), or, for a tenant whose interactions were not staged, the one its published
-- lists were made from
interactions as (
    select tenant_id, sum(hash(input_rows)::hugeint) as rows_hash
    -- the alias is the row itself (hash(input_rows): all its columns)
    from {{ ref('stg_interactions') }} as input_rows  -- noqa: AL05
    group by tenant_id
    union all
    select tenant_id, interactions_hash::hugeint as rows_hash
    from {{ ref('stg_carried_tenants') }}
),

summed as (
    select tenant_id, input_table, rows_hash from {{ ref('stg_input_hashes') }}
    union all
    select tenant_id, 'interactions' as input_table, rows_hash from interactions
),

settings as (
    select tenant_id, to_json(settings) as settings_json
    from {{ ref('tenant_settings') }} as settings  -- noqa: AL05
),

fingerprints as (
    {{ input_fingerprint('settings', 'summed') }}
),

final as (
    select
        fingerprints.tenant_id,
        fingerprints.input_fingerprint,
        interactions.rows_hash::varchar as interactions_hash
    from fingerprints
    left join interactions on fingerprints.tenant_id = interactions.tenant_id
)

select * from final
