{#- One row per tenant: its settings, each taken from the tenants input or, where that is empty,
    from seeds/tenant_defaults.csv. Without a tenants input, every tenant that has items or
    interactions is a tenant with default settings. -#}
with

defaults as (
    select * from {{ ref('tenant_defaults') }}
),

listed as (
    select * from {{ ref('stg_tenants') }}
),

seen as (
    select tenant_id from {{ ref('stg_items') }}
    union
    select tenant_id from {{ ref('stg_interactions') }}
),

tenants as (
    select tenant_id from listed
    union
    select tenant_id from seen
    where not exists (select 1 from listed)
),

final as (
    select
        tenants.tenant_id,
        coalesce(listed.mode, defaults.mode) as mode,
        coalesce(listed.k, defaults.k) as k,
        coalesce(listed.algorithm, defaults.algorithm) as algorithm,
        coalesce(listed.half_life_days, defaults.half_life_days) as half_life_days
    from tenants
    left join listed on tenants.tenant_id = listed.tenant_id
    cross join defaults
)

select * from final
