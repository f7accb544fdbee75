{#- A select of every row of the CTE `rows` (its `reason_column` renamed `as_column`) with the
    reason 'duplicate row' where its own checks found none and an earlier row (by _source_row)
    had the same values as read. `rows` carries the input's `row_json` and `_row`: a streamed
    input's row is its text in `row_json` (`_row` NULL), a table read natively from Parquet has
    its values in `_row` and no text (recsql/build/inputs.py); the result's `row_json` is the
    text either way, for `row_json_of` 'every row' or only the 'rejected rows' (the text of
    millions of accepted interactions is never needed, and writing it cost seconds).
    `rows` is read three times: declare it `as materialized`, or a streamed input would be read
    again; it carries the rows' hash, `{{ row_hash() }}` among its columns, computed once there.
    Only the rows whose values' hash is repeated are sorted (a window over every row of 5
    million interactions cost seconds). -#}
{% macro duplicate_row_reason(rows, reason_column, as_column, row_json_of='every row') -%}
    {%- set row_text = "coalesce(row_json, cast(to_json(_row) as varchar))" -%}
    select
        {{ rows }}.* exclude ({{ reason_column }}, _row, _row_hash) replace (
            {%- if row_json_of == 'rejected rows' %}
            case
                when {{ reason_column }} is not null or later_copies._source_row is not null
                    then {{ row_text }}
            end as row_json
            {%- elif row_json_of == 'every row' %}
            {{ row_text }} as row_json
            {%- else %}
            {{ exceptions.raise_compiler_error("row_json_of is 'every row' or 'rejected rows'") }}
            {%- endif %}
        ),
        case
            when {{ reason_column }} is not null then {{ reason_column }}
            when later_copies._source_row is not null then 'duplicate row'
        end as {{ as_column }}
    from {{ rows }}
    left join (
        select _source_row
        from (
            select
                _source_row,
                -- the values themselves decide: rows whose hashes collide are not copies
                row_number() over (
                    partition by _row_hash, _row, row_json order by _source_row
                ) as copy_number
            from {{ rows }}
            semi join (
                select _row_hash
                from {{ rows }}
                group by all
                having count(*) > 1
            ) using (_row_hash)
        )
        where copy_number > 1
    ) as later_copies using (_source_row)
{%- endmacro %}

{#- The hash of a row as read (its values or its text), for duplicate_row_reason. -#}
{% macro row_hash() -%}
    hash(_row, row_json) as _row_hash
{%- endmacro %}
