{#- DuckDB's memory_limit for the SQL model about to run (every model's pre-hook,
    dbt_project.yml): what the rest of the process tree leaves of the build's budget, at most
    70 %, from what DuckDB holds now (recsql_memory_limit, the recsql dbt plugin's function:
    recsql/engine/shards.py sql_memory_limit). Set only where it must change
    (shards.sql_memory_limit_change: lower, or more than 5 % higher): a set, even to the same value,
    has DuckDB hand its cached memory back and fault it in again. A Python model renders
    nothing here: dbt would open its transaction for the hook, and the model's table, written
    on a cursor of its own, would not be seen in it. Its limit is half the budget: the engine's
    Python models set it when they build a shard (shards.release_duckdb_memory), the others
    hold little besides what DuckDB holds. -#}
{% macro duckdb_memory_limit() -%}
{% if model.language == 'sql' and execute -%}
    {%- set found = run_query(
        "select recsql_memory_limit("
        ~ "(select coalesce(sum(memory_usage_bytes), 0)::bigint from duckdb_memory()), "
        ~ "current_setting('memory_limit'))"
    ) -%}
    {%- set limit = found.columns[0].values()[0] -%}
    {%- if limit %}set memory_limit = '{{ limit }}'{% endif -%}
{%- endif %}
{%- endmacro %}
