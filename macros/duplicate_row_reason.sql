{#- A select of every row of the CTE `rows` (its `reason_column` renamed `as_column`) with the
    reason 'duplicate row' where its own checks found none and an earlier row (by _source_row)
    had the same row_json. `rows` is read three times: declare it `as materialized`, or a
    streamed input would be read again. Only the rows whose text's hash is repeated are sorted
    (a window over every row of 5 million interactions cost seconds). -#}
{% macro duplicate_row_reason(rows, reason_column, as_column) -%}
    select
        {{ rows }}.* exclude ({{ reason_column }}),
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
                -- the text itself decides: rows whose hashes collide are not copies
                row_number() over (
                    partition by row_hash, row_json order by _source_row
                ) as copy_number
            from (select _source_row, row_json, hash(row_json) as row_hash from {{ rows }})
            semi join (
                select hash(row_json) as row_hash
                from {{ rows }}
                group by all
                having count(*) > 1
            ) using (row_hash)
        )
        where copy_number > 1
    ) as later_copies using (_source_row)
{%- endmacro %}
