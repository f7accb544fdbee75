{#- The build's id: var('build_id') as recsql build registers it in the state
    (recsql/lifecycle/state.py), else when this dbt run started (UTC), e.g. '20261122T031500Z'. -#}
{% macro build_id() -%}
    {{ var('build_id', none) or run_started_at.strftime("%Y%m%dT%H%M%SZ") }}
{%- endmacro %}

{#- The version stamped on every served row of the tenant in `tenant_column`: the version of its
    models that serves it (active_models; model_registry.version). -#}
{% macro model_version(tenant_column) -%}
    (
        select models.version from {{ ref('active_models') }} as models
        where models.tenant_id = {{ tenant_column }}
    )
{%- endmacro %}
