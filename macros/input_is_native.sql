{#- Whether the build reads the input table from its Parquet files, as a view that more than
    one model may read (recsql_input_is_native, recsql/build/dbt_plugin.py), rather than as a
    stream, which only its staging model reads, once. False when dbt parses. -#}
{% macro input_is_native(table) -%}
    {%- if execute -%}
        {{ return(run_query("select recsql_input_is_native('" ~ table ~ "')")
            .columns[0].values()[0]) }}
    {%- endif -%}
    {{ return(false) }}
{%- endmacro %}
