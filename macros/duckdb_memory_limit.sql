{#- DuckDB's memory_limit for the model about to run (every model's pre-hook, dbt_project.yml):
    the share of the build's budget its language is given (recsql/memory.py) - for a Python
    model half, its Python side holds the rest; for a SQL model what the rest of the process tree
    leaves, at most 70 %, from what DuckDB holds now (recsql_memory_limit: the recsql dbt
    plugin's, recsql/engine/shards.py sql_memory_limit). -#}
{% macro duckdb_memory_limit() -%}
{% if model.language == 'sql' -%}
set variable recsql_duckdb_held = (
    select coalesce(sum(memory_usage_bytes), 0)::bigint from duckdb_memory()
);
{% endif -%}
set memory_limit = recsql_memory_limit(
    '{{ model.language }}', coalesce(getvariable('recsql_duckdb_held'), 0)::bigint
)
{%- endmacro %}
