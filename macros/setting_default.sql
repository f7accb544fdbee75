{#- A tenant setting's default as a typed SQL literal (NULL of the setting's type if it has
    none). -#}
{% macro setting_default(setting) -%}
    {%- set sql_type = {'string': 'varchar', 'integer': 'bigint', 'number': 'double'}[setting.type] -%}
    {%- if setting.default is none -%}
        cast(null as {{ sql_type }})
    {%- elif setting.type == 'string' -%}
        cast('{{ setting.default }}' as {{ sql_type }})
    {%- else -%}
        cast({{ setting.default }} as {{ sql_type }})
    {%- endif -%}
{%- endmacro %}
