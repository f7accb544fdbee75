{#- Rows read, accepted and quarantined per input table and tenant (as written in the row).
    rows_read = rows_accepted + rows_quarantined (tests/dbt checks it). -#}
with

final as (
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
)

select * from final
