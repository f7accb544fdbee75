{#- One row per tenant that failed once the engine ran, with why: fitting or scoring one of its
    models raised (engine_runs), or its fresh lists break a compliance guarantee
    (tenant_compliance_failures). Like a tenant failed before the engine ran (tenant_plans'
    trigger failed), it keeps its published lists minus what today's rules forbid
    (held_tenants), and a version trained for it is `failed`. -#}
with

fits as (
    select
        tenant_id,
        'fitting its models failed: '
        || string_agg(
            distinct coalesce(algorithm, '?') || ' (' || model || '): ' || error, '; '
        ) as reason
    from {{ ref('engine_runs') }}
    where error is not null
    group by tenant_id
),

problems as (
    select tenant_id, reason from fits
    union all
    select tenant_id, reason from {{ ref('tenant_compliance_failures') }}
),

final as (
    select tenant_id, string_agg(reason, '; ' order by reason) as reason
    from problems
    group by tenant_id
)

select * from final
