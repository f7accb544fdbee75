{#- Every rejected input row, with the reason, the row as it was read (JSON), where it is (the
    file, relative to the input directory, the line a CSV row starts on or a Parquet row's
    number, and its row number in the table) and the customers who asked to be forgotten
    (erasure_requests) it names: their id as a whole word anywhere in the row, a malformed line
    too, of the row's tenant or, for a row that names no tenant, of any (`erased_named`, empty
    for most rows). The `row_json` of a row that names one is NULL: its values go no further.
    What quarantined_rows publishes, what input_acceptance takes its examples from, and what
    erasure_removals counts. -#}
with

rejected as (
    {% for table in input_tables() %}
        select
            '{{ table }}' as source_table,
            tenant_id,
            rejection_reason as reason,
            row_json,
            _source_file as source_file,
            _source_line as source_line,
            _source_row as source_row
        from {{ ref('stg_' ~ table ~ '_validated') }}
        where rejection_reason is not null
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

erased as (
    select distinct tenant_id, customer_id from {{ ref('stg_erasure_requests') }}
),

marked as (
    select
        rejected.*,
        coalesce((
            select list(struct_pack(erased.tenant_id, erased.customer_id))
            from erased
            where
                (rejected.tenant_id = erased.tenant_id or rejected.tenant_id is null)
                and {{ names_customer('rejected.row_json', 'erased.customer_id') }}
        ), []) as erased_named
    from rejected
),

final as (
    select
        * replace (if(len(erased_named) > 0, null, row_json) as row_json)
    from marked
)

select * from final
