{% macro conflicting_key_reason(reason_column, key_columns) -%}
    case
        when {{ reason_column }} is not null then {{ reason_column }}
        when row_number() over (
            partition by {{ key_columns | join(', ') }}, {{ reason_column }} is null
            order by _source_row
        ) > 1
            then 'conflicting duplicate key'
    end
{%- endmacro %}
