{#- One row per tenant: its settings, each taken from the tenants input or, where that is empty,
    the default of recsql/contract.py (tenant_setting_definitions). A tenant whose tenants row
    is rejected (an invalid setting, conflicting rows) is still a tenant: it fails this build
    (tenant_failures) and keeps serving its previous lists, judged by today's rules with the
    valid settings of its row (the defaults for the others, or for all where several rows
    conflict). Without a tenants input, every tenant that any items or interactions row names
    (accepted or not) is a tenant with default settings: a tenant whose rows were all rejected
    is still a tenant, and input_acceptance fails the build on it. -#}
{%- set settings = tenant_setting_definitions() -%}

with

listed as (
    select * from {{ ref('stg_tenant_settings') }}
),

-- without a tenants input, every tenant an items or interactions row names
named as (
    select tenant_id from {{ ref('stg_items_validated') }}
    where not exists (select 1 from listed)
    union
    select tenant_id from {{ ref('stg_interactions_validated') }}
    where not exists (select 1 from listed)
),

-- those, with the defaults (typed as stg_tenant_settings types them)
unlisted as (
    select
        named.tenant_id,
        {% for setting in settings %}
            coalesce(listed.{{ setting.name }}, {{ setting_default(setting) }})
                as {{ setting.name }}{% if not loop.last %},{% endif %}
        {% endfor %}
    from (select distinct tenant_id from named) as named
    left join listed on named.tenant_id = listed.tenant_id
    where named.tenant_id is not null
),

final as (
    select * from listed
    union all
    select * from unlisted
)

select * from final
