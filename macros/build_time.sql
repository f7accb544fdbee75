{% macro build_time() -%}
    {%- set as_of = var('as_of', none) -%}
    {%- if as_of -%}
        {#- Parsed here so that only a well-formed timestamp reaches the SQL. -#}
        {%- set parsed = modules.datetime.datetime.fromisoformat(as_of | string) -%}
        timestamp '{{ parsed.strftime("%Y-%m-%d %H:%M:%S") }}'
    {%- else -%}
        timestamp '{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S") }}'
    {%- endif -%}
{%- endmacro %}
