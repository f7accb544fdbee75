{#- One row per tenant: its settings, each taken from the tenants input or, where that is empty,
    the default of recsql/contract.py (tenant_setting_definitions). A tenant whose tenants row
    is rejected (an invalid setting, conflicting rows) is still a tenant: it fails this build
    (tenant_failures) and keeps serving its previous lists, judged by today's rules with the
    valid settings of its row (the defaults for the others, or for all where several rows
    conflict). Without a tenants input, every tenant that any items or interactions row names
    (accepted or not) is a tenant with default settings: a tenant whose rows were all rejected
    is still a tenant, and input_acceptance fails the build on it. -#}

with

settled as (
    select * from {{ ref('stg_tenant_settings') }}
),

-- without a tenants input, the tenants only streamed interactions name (stg_tenant_settings
-- has those of the items and of interactions read from Parquet), with the defaults, typed as
-- stg_tenant_settings types them
named as (
    select distinct tenant_id from {{ ref('stg_interactions_validated') }}
    where
        tenant_id is not null
        and not exists (
            select 1 from {{ ref('stg_tenants_validated') }} where tenant_id is not null
        )
),

unlisted as (
    select
        named.tenant_id,
        {{ settings_or_defaults('settled') }}
    from named
    left join settled on named.tenant_id = settled.tenant_id
    where settled.tenant_id is null
),

final as (
    select * from settled
    union all
    select * from unlisted
)

select * from final
