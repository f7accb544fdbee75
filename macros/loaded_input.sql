{#- The table that dbt-duckdb loaded an input file into (the source inputs.<table> of
    models/staging/_staging__sources.yml), named without source(): each source() a node
    compiles makes the recsql plugin read the file again. For checks against what was read;
    only the staging models read the inputs through source(). -#}
{% macro loaded_input(table) -%}
    inputs.{{ table }}
{%- endmacro %}
