{% macro duplicate_row_reason(reason_column) -%}
    case
        when {{ reason_column }} is not null then {{ reason_column }}
        -- partitioned by the text's hash first: sorting 64-bit integers is cheaper than long
        -- texts, and the text itself still decides
        when row_number() over (partition by hash(row_json), row_json order by _source_row) > 1
            then 'duplicate row'
    end
{%- endmacro %}
