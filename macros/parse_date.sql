{% macro parse_date(column) -%}
    try_cast(nullif(trim({{ column }}), '') as date)
{%- endmacro %}
