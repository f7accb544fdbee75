{#- The build's id: var('build_id') as recsql build registers it in the state
    (recsql/lifecycle/state.py), else when this dbt run started (UTC), e.g. '20261122T031500Z'. -#}
{% macro build_id() -%}
    {{ var('build_id', none) or run_started_at.strftime("%Y%m%dT%H%M%SZ") }}
{%- endmacro %}

{#- The version stamped on every served row: the build's id. -#}
{% macro model_version() -%}
    '{{ build_id() }}'
{%- endmacro %}
