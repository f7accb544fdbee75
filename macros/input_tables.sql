{#- The tables of the input contract (recsql/contract.py), in the order reports list them. -#}
{% macro input_tables() -%}
    {{ return([
        'interactions', 'items', 'customers', 'customer_flags', 'item_restrictions',
        'consents', 'erasure_requests', 'rules', 'tenants',
    ]) }}
{%- endmacro %}
