{#- Every row read from an input file is either accepted (in its staging model) or in
    quarantined_rows: rows read = accepted + quarantined, per table. Returns the tables where
    that does not hold.
    Rows read are counted by the recsql plugin as it streams them to the staging models
    (recsql_rows_read, recsql/build/dbt_plugin.py): a stream is read once, and source() here
    would make the plugin read every file again. NULL (never read) counts as a difference.
    The interactions of the tenants carried before they were staged (tenant_carries_before_
    staging) are accepted and quarantined as the published file counted them
    (input_row_counts), and that file must have counted as many rows as were read of them
    now (stg_interactions_hashed). -#}
with

unstaged as (
    select
        counts.source_table,
        sum(counts.rows_accepted) as rows_accepted,
        sum(counts.rows_read) as rows_counted,
        sum(hashed.raw_rows) as rows_read_now
    from {{ ref('input_row_counts') }} as counts
    inner join {{ ref('stg_carried_tenants') }} as carried
        on counts.tenant_id = carried.tenant_id
    left join {{ ref('stg_interactions_hashed') }} as hashed
        on counts.tenant_id = hashed.tenant_id
    where counts.source_table = 'interactions'
    group by counts.source_table
),

counts as (
    {% for table in input_tables() %}
        select
            '{{ table }}' as source_table,
            recsql_rows_read('{{ table }}') as rows_read,
            (select count(*) from {{ ref('stg_' ~ table) }})
            + coalesce((
                select rows_accepted from unstaged where source_table = '{{ table }}'
            ), 0) as rows_accepted,
            (
                select count(*) from {{ ref('quarantined_rows') }}
                where source_table = '{{ table }}'
            ) as rows_quarantined
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

final as (
    select source_table, rows_read, rows_accepted, rows_quarantined, null as unstaged_rows
    from counts
    where rows_read is distinct from rows_accepted + rows_quarantined
    union all
    select
        source_table,
        rows_read_now as rows_read,
        null as rows_accepted,
        null as rows_quarantined,
        rows_counted as unstaged_rows
    from unstaged
    where rows_read_now is distinct from rows_counted
)

select * from final
