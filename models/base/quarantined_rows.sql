{#- Every rejected input row, with the reason, the row as it was read (JSON) and where it is:
    the file (relative to the input directory) and the line a CSV row starts on (a Parquet
    row's number). With the accepted rows of the staging models, this accounts for every row
    read.
    A row that names a customer who asked to be forgotten (erasure_requests: their id, as a
    whole word, anywhere in the row - a malformed line too, whatever tenant it names) keeps its
    place, table, file, line and reason, so that the accounting holds, but not its values:
    its `row_json` is NULL (docs/privacy.md). An erased id that is also a common word blanks
    the other rows it appears in as well: values are hidden, never shown by mistake.
    The rejected interactions of a tenant carried before they were staged
    (stg_carried_tenants: its raw rows are those its published lists were read from,
    and its erasure requests those they were made with) are the published ones: the same rows,
    with the file and line they had then. -#}
with

rejected as (
    select
        source_table,
        tenant_id,
        reason,
        row_json,
        source_file,
        source_line
    from {{ ref('int_rejected_rows') }}
),

unstaged as (
    {{ published_rows(
        'quarantined_rows',
        ['source_table', 'tenant_id', 'reason', 'row_json', 'source_file', 'source_line'],
        'rejected',
        unstaged_tenants()
    ) }}
),

final as (
    select * from rejected
    union all
    select * from unstaged where source_table = 'interactions'
)

select * from final
