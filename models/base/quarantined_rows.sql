{#- Every rejected input row, with the reason, the row as it was read (JSON) and where it is:
    the file (relative to the input directory) and the line a CSV row starts on (a Parquet
    row's number). With the accepted rows of the staging models, this accounts for every row
    read.
    A row that names a customer who asked to be forgotten (erasure_requests: their id, as a
    whole word, anywhere in the row - a malformed line too, whatever tenant it names) keeps its
    place, table, file, line and reason, so that the accounting holds, but not its values:
    its `row_json` is NULL (docs/privacy.md). An erased id that is also a common word blanks
    the other rows it appears in as well: values are hidden, never shown by mistake. -#}
with

rejected as (
    {% for table in input_tables() %}
        select
            '{{ table }}' as source_table,
            tenant_id,
            rejection_reason as reason,
            row_json,
            _source_file as source_file,
            _source_line as source_line
        from {{ ref('stg_' ~ table ~ '_validated') }}
        where rejection_reason is not null
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

erased as (
    select distinct tenant_id, customer_id from {{ ref('stg_erasure_requests') }}
),

marked as (
    -- (a malformed line has no row number: rows are marked where they are)
    select
        rejected.*,
        exists(
            select 1 from erased
            where
                (rejected.tenant_id = erased.tenant_id or rejected.tenant_id is null)
                and {{ names_customer('rejected.row_json', 'erased.customer_id') }}
        ) as is_of_erased
    from rejected
),

final as (
    select
        source_table,
        tenant_id,
        reason,
        if(is_of_erased, null, row_json) as row_json,
        source_file,
        source_line
    from marked
)

select * from final
