{#- Rows read, accepted and quarantined per input table and tenant (as written in the row).
    rows_read = rows_accepted + rows_quarantined (tests/dbt checks it). The interactions of a
    tenant carried before they were staged (stg_carried_tenants: its raw rows are
    those its published lists were read from) are counted as the published file counted
    them. -#}
with

counted as (
    {% for table in input_tables() %}
        select
            '{{ table }}' as source_table,
            tenant_id,
            count(*) as rows_read,
            count(*) filter (where rejection_reason is null) as rows_accepted,
            count(*) filter (where rejection_reason is not null) as rows_quarantined
        from {{ ref('stg_' ~ table ~ '_validated') }}
        group by tenant_id
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

unstaged as (
    {{ published_rows(
        'input_row_counts',
        ['source_table', 'tenant_id', 'rows_read', 'rows_accepted', 'rows_quarantined'],
        'counted',
        unstaged_tenants()
    ) }}
),

final as (
    select * from counted
    union all
    select * from unstaged where source_table = 'interactions'
)

select * from final
