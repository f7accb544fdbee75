{#- The rows of the published file's table `recsql_data.<table>` (attached read-only as
    recsql_previous by the recsql dbt plugin) of the tenants this build holds (tenant_plans'
    action hold: left out by --tenants, or failed), with the given `columns`. No rows - with
    the columns and types of the relation `like` - when there is no published file, or its
    table lacks one of the columns (a file from an older recsql): the held tenant then serves
    nothing until a build succeeds for it. The callers (the served lists' models) drop the
    rows today's rules forbid and renumber the ranks. -#}
{% macro previous_rows(table, columns, like) -%}
    {%- set held = ref('tenant_plans') -%}
    {%- set available = [] -%}
    {%- if execute -%}
        {%- set found = run_query(
            "select column_name from duckdb_columns() where database_name = 'recsql_previous' "
            ~ "and schema_name = 'recsql_data' and table_name = '" ~ table ~ "'"
        ) -%}
        {%- set available = found.columns[0].values() | list -%}
        {%- if available and columns | reject('in', available) | list -%}
            {{ log("The published " ~ table ~ " lacks columns " ~ (columns | reject('in', available)
                | join(', ')) ~ ": the tenants held by this build serve none of its rows.",
                info=true) }}
        {%- endif -%}
    {%- endif -%}
    {%- if available and not (columns | reject('in', available) | list) -%}
        select {{ columns | join(', ') }}
        from recsql_previous.recsql_data.{{ table }}
        where tenant_id in (select tenant_id from {{ held }} where action = 'hold')
    {%- else -%}
        select {{ columns | join(', ') }} from {{ like }} where false
    {%- endif -%}
{%- endmacro %}

{#- The tenants served fresh lists by this build (tenant_plans' action train or score), as a
    subquery: `semi join {{ fresh_tenants() }} as fresh on ...`. -#}
{% macro fresh_tenants() -%}
    (select tenant_id from {{ ref('tenant_plans') }} where action in ('train', 'score'))
{%- endmacro %}
