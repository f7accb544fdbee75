{#- A stored-model form of the version serving each tenant (the active_* models of the engine):
    the rows the caller selects for the tenants whose version this build trained — joined to
    the CTE `models` (tenant_id, version of those tenants) — and the stored rows of the
    others (stored_rows). Used as
        {% call active_form('popularity') %} select ... {% endcall %} -#}
{% macro active_form(form) -%}
with

models as (
    select tenant_id, version from {{ ref('active_models') }}
    where model_source = 'trained'
),

trained as (
    {{ caller() }}
),

final as (
    select * from trained
    union all by name
    {{ stored_rows(form) }}
)

select * from final
{%- endmacro %}
