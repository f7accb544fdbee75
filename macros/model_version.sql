{#- The version stamped on every served row: when this build started (UTC), e.g.
    '20261122T031500Z'. -#}
{% macro model_version() -%}
    '{{ run_started_at.strftime("%Y%m%dT%H%M%SZ") }}'
{%- endmacro %}
