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

accepted as (
    select * from {{ ref('stg_tenants') }}
),

-- the tenants whose every row was rejected: the valid settings of their row, if it is one
rejected as (
    select
        tenant_id,
        {% for setting in settings %}
            if(
                count(*) = 1,
                any_value(if({{ setting_is_allowed(setting) }}, {{ setting.name }}, null)),
                null
            ) as {{ setting.name }}{% if not loop.last %},{% endif %}
        {% endfor %}
    from {{ ref('stg_tenants_validated') }}
    where
        rejection_reason is not null
        and tenant_id is not null
        and tenant_id not in (select tenant_id from accepted)
    group by tenant_id
),

listed as (
    select tenant_id, {{ settings | map(attribute='name') | join(', ') }} from accepted
    union all
    select * from rejected
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
