{% macro parse_number(column) -%}
    case
        when isfinite(try_cast(trim({{ column }}) as double))
            then try_cast(trim({{ column }}) as double)
    end
{%- endmacro %}
