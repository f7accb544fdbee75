{#- What decides a tenant's plan (docs/lifecycle.md), as SQL over one row of measures with the
    columns tenant_id, mode, failure, version, has_new_erasures, operator_action, is_pinned,
    candidate_version, window_customers, promotion_min_customers, age_days,
    retrain_every_days, new_interactions, new_share, retrain_new_data_share, drift and
    retrain_drift. One expression for tenant_plans and for stg_carried_tenants,
    which decides the same from the measures a tenant without new interactions has, before
    its interactions are staged. -#}
{% macro plan_trigger() -%}
    {%- set selected = [] %}
    {%- for tenant in var('tenants', []) %}
        {%- do selected.append("'" ~ (tenant | replace("'", "''")) ~ "'") %}
    {%- endfor -%}
    case
        {% if selected %}
            when tenant_id not in ({{ selected | join(', ') }}) then 'not_selected'
        {% endif %}
        when mode = 'off' then 'off'
        when failure is not null then 'failed'
        when version is null then 'first_version'
        when has_new_erasures then 'erasure'
        when operator_action in ('promote', 'pin') then 'operator'
        when is_pinned then 'pinned'
        when mode = 'freeze' then 'frozen'
        when '{{ var("retrain", "due") }}' = 'all' then 'retrain_all'
        when candidate_version is not null and window_customers >= promotion_min_customers
            then 'promotion'
        when candidate_version is not null then 'awaiting_judgement'
        when '{{ var("retrain", "due") }}' = 'none' then 'retrain_none'
        when age_days >= retrain_every_days then 'age'
        when new_interactions > 0 and new_share >= retrain_new_data_share then 'new_data'
        when new_interactions > 0 and drift >= retrain_drift then 'drift'
        else 'not_due'
    end
{%- endmacro %}

{#- The triggers under which a tenant whose inputs did not change keeps its published lists
    (carried) instead of being scored, as an SQL list. -#}
{% macro carried_triggers() -%}
    ('pinned', 'frozen', 'awaiting_judgement', 'retrain_none', 'not_due')
{%- endmacro %}

{#- Whether the tenant has an erasure request its active version's data did not leave out: its
    requests' keys (`keys`, `count`) against those the version recorded (`active`: a row of
    lifecycle_state.active_versions; a version of an older recsql has only their number). -#}
{% macro has_new_erasures(active, keys, count) -%}
    coalesce(
        if(
            {{ active }}.erasure_keys is null,
            {{ count }} > coalesce({{ active }}.erasures, 0),
            not list_has_all({{ active }}.erasure_keys, {{ keys }})
        ),
        false
    )
{%- endmacro %}
