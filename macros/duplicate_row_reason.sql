{#- A select of every row of the CTE `rows` (its `reason_column` renamed `as_column`) with the
    reason 'duplicate row' where its own checks found none and an earlier row (by _source_row)
    had the same values as read. `rows` carries the input's `row_json` and `_row`: a streamed
    input's row is its text in `row_json` (`_row` NULL), a table read natively from Parquet has
    its values in `_row` and no text (recsql/build/inputs.py). The result's `row_json` is the
    text of the rows it rejects only (`row_json_of` 'rejected rows': the text of accepted rows
    is never needed, and writing it cost seconds for millions of interactions, a fifth of a
    second for 150,000 items), or, for a model that rejects more rows after it
    (conflicting_key_reason), 'as read': `row_json` as the input gave it and `_row` kept, for
    rejected_row_text to word once the model has every reason.
    `rows` is read three times: declare it `as materialized`, or a streamed input would be read
    again; it carries the rows' hash, `{{ row_hash() }}` among its columns, computed once there.
    Only the rows whose values' hash is repeated are sorted (a window over every row of 5
    million interactions cost seconds). -#}
{% macro duplicate_row_reason(rows, reason_column, as_column, row_json_of='rejected rows') -%}
    {%- set row_text = row_text_of('row_json', '_row') -%}
    select
        {%- if row_json_of == 'rejected rows' %}
        {{ rows }}.* exclude ({{ reason_column }}, _row, _row_hash) replace (
            case
                when {{ reason_column }} is not null or later_copies._source_row is not null
                    then {{ row_text }}
            end as row_json
        ),
        {%- elif row_json_of == 'as read' %}
        {{ rows }}.* exclude ({{ reason_column }}, _row_hash),
        {%- else %}
        {{ exceptions.raise_compiler_error("row_json_of is 'rejected rows' or 'as read'") }}
        {%- endif %}
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

{#- The text of a row as read: its text (streamed) or its values as JSON (read natively). -#}
{% macro row_text_of(row_json, row) -%}
    coalesce({{ row_json }}, cast(to_json({{ row }}) as varchar))
{%- endmacro %}

{#- `row_json` for a select of rows that duplicate_row_reason left 'as read': the text of the
    rows `reason_column` rejects, NULL for the accepted. Replaces `row_json`; `_row` is left
    for the caller to exclude. -#}
{% macro rejected_row_text(reason_column) -%}
    case when {{ reason_column }} is not null then {{ row_text_of('row_json', '_row') }} end
{%- endmacro %}
