{#- The rows of the published file's table `recsql_data.<table>` of the tenants of the subquery
    `tenants`, with the given `columns` (previous_rows; the rows of tenants carried before
    their interactions were staged: stg_carried_tenants). No rows, with the columns
    and types of `like`, without a published file or when its table lacks one of the
    columns. -#}
{% macro published_rows(table, columns, like, tenants) -%}
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
        where tenant_id in {{ tenants }}
    {%- else -%}
        select {{ columns | join(', ') }} from {{ like }} where false
    {%- endif -%}
{%- endmacro %}

{#- The tenants this build carries without staging their interactions, as a subquery. -#}
{% macro unstaged_tenants() -%}
    (select tenant_id from {{ ref('stg_carried_tenants') }})
{%- endmacro %}
