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

{#- Every tenant setting of the relation `relation` (columns named as the settings), its default
    where it is NULL: `coalesce(relation.k, 10) as k, ...`. -#}
{% macro settings_or_defaults(relation) -%}
    {%- for setting in tenant_setting_definitions() %}
        coalesce({{ relation }}.{{ setting.name }}, {{ setting_default(setting) }})
            as {{ setting.name }}{% if not loop.last %},{% endif %}
    {%- endfor %}
{%- endmacro %}
