{#- One row per tenant: its settings, each taken from the tenants input or, where that is empty,
    from seeds/tenant_defaults.csv. Without a tenants input, every tenant that has items or
    interactions is a tenant with default settings. -#}
{%- set settings = [
    'mode', 'k', 'algorithm', 'half_life_days', 'holdout_days', 'candidates_n', 'history_cap',
    'similarity', 'min_support', 'similar_items_n', 'trending_days', 'trending_baseline_days',
    'als_factors', 'als_regularization', 'als_alpha', 'als_iterations', 'ease_lambda',
    'ease_max_items', 'no_consent_list', 'sustainability_nudge', 'nothing_threshold',
] -%}

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
        {% for setting in settings %}
            coalesce(listed.{{ setting }}, defaults.{{ setting }}) as {{ setting }}
            {%- if not loop.last %},{% endif %}
        {% endfor %}
    from tenants
    left join listed on tenants.tenant_id = listed.tenant_id
    cross join defaults
)

select * from final
