{#- Whether a parsed tenant setting lies in its choices or its range (NULL if the value is
    NULL). The setting's own check only: `at_least` compares two settings, in the model. -#}
{% macro setting_is_allowed(setting) -%}
    {%- set conditions = [] -%}
    {%- if setting.choices -%}
        {%- do conditions.append(setting.name ~ " in ('" ~ setting.choices | join("', '") ~ "')") -%}
    {%- endif -%}
    {%- if setting.minimum is not none -%}
        {%- set operator = '>' if setting.minimum_exclusive else '>=' -%}
        {%- do conditions.append(setting.name ~ ' ' ~ operator ~ ' ' ~ setting.minimum) -%}
    {%- endif -%}
    {%- if setting.maximum is not none -%}
        {%- do conditions.append(setting.name ~ ' <= ' ~ setting.maximum) -%}
    {%- endif -%}
    {%- if not conditions -%}
        {%- do conditions.append(setting.name ~ ' is not null') -%}
    {%- endif -%}
    ({{ conditions | join(' and ') }})
{%- endmacro %}
