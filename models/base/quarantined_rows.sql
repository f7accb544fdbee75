{#- Every rejected input row, with the reason and the row as it was read (JSON).
    With the accepted rows of the staging models, this accounts for every row read. -#}
with

final as (
    {% for table in input_tables() %}
        select
            '{{ table }}' as source_table,
            tenant_id,
            rejection_reason as reason,
            row_json
        from {{ ref('stg_' ~ table ~ '_validated') }}
        where rejection_reason is not null
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
)

select * from final
