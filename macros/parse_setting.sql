{#- A tenant setting's text (a column of the tenants input) as its type: a string setting in
    lower case, an integer or number parsed (NULL if it does not parse). -#}
{% macro parse_setting(setting) -%}
    {%- if setting.type == 'string' -%}
        lower({{ clean_text(setting.name) }})
    {%- elif setting.type == 'integer' -%}
        {{ parse_integer(setting.name) }}
    {%- else -%}
        {{ parse_number(setting.name) }}
    {%- endif -%}
{%- endmacro %}
