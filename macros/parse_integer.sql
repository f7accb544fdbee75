{% macro parse_integer(column) -%}
    case
        when try_cast(trim({{ column }}) as double) = floor(try_cast(trim({{ column }}) as double))
            then try_cast(try_cast(trim({{ column }}) as double) as bigint)
    end
{%- endmacro %}
