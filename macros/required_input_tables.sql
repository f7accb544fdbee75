{#- The tables of the input contract (recsql/contract.py) that every tenant needs. -#}
{% macro required_input_tables() -%}
    {{ return(['interactions', 'items']) }}
{%- endmacro %}
