{#- DuckDB's memory_limit for the model about to run (every model's pre-hook, dbt_project.yml):
    the share of the build's budget its language is given (recsql/memory.py) - most of it for a
    SQL model, half for a Python model, whose Python side holds the rest. The recsql dbt plugin
    sets the values on each cursor dbt runs a model with (configure_cursor). -#}
{% macro duckdb_memory_limit() -%}
set memory_limit = getvariable('recsql_memory_limit_{{ model.language }}')
{%- endmacro %}
