{#- One row per tenant the tenants input lists (a row of it accepted or rejected): its settings,
    each taken from its row or, where that is empty, the default of recsql/contract.py
    (tenant_setting_definitions); the valid settings of a rejected row (the defaults for the
    others, or for all where several rows conflict). Without a tenants input, every tenant an
    items row or a raw interactions row read from Parquet (stg_interactions_hashed) names,
    accepted or not, with the defaults; tenant_settings adds those that streamed interactions
    name. What reads settings before the interactions are staged reads them here
    (stg_carried_tenants). -#}
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
    where not exists (select 1 from listed)
    union
    select tenant_id from {{ ref('stg_interactions_hashed') }}
    where not exists (select 1 from listed)
),

tenants as (
    select tenant_id from listed
    union all
    select tenant_id from named where tenant_id is not null
),

final as (
    select
        tenants.tenant_id,
        {{ settings_or_defaults('listed') }}
    from tenants
    left join listed on tenants.tenant_id = listed.tenant_id
)

select * from final
