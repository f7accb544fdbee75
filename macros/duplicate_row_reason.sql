{% macro duplicate_row_reason(reason_column) -%}
    case
        when {{ reason_column }} is not null then {{ reason_column }}
        when row_number() over (partition by row_json order by _source_row) > 1
            then 'duplicate row'
    end
{%- endmacro %}
