{#- One row per tenant: its settings, each taken from the tenants input or, where that is empty,
    the default of recsql/contract.py (tenant_setting_definitions). Without a tenants input,
    every tenant that any items or interactions row names (accepted or not) is a tenant with
    default settings: a tenant whose rows were all rejected is still a tenant, and
    input_acceptance fails the build on it. -#}
{%- set settings = tenant_setting_definitions() -%}

with

listed as (
    select * from {{ ref('stg_tenants') }}
),

named as (
    select tenant_id from {{ ref('stg_items_validated') }}
    union
    select tenant_id from {{ ref('stg_interactions_validated') }}
),

tenants as (
    select tenant_id from listed
    union
    select tenant_id from named
    where tenant_id is not null and not exists (select 1 from listed)
),

final as (
    select
        tenants.tenant_id,
        {% for setting in settings %}
            coalesce(listed.{{ setting.name }}, {{ setting_default(setting) }})
                as {{ setting.name }}{% if not loop.last %},{% endif %}
        {% endfor %}
    from tenants
    left join listed on tenants.tenant_id = listed.tenant_id
)

select * from final
