{#- Every rejected input row, with the reason, the row as it was read (JSON) and where it is:
    the file (relative to the input directory) and the line a CSV row starts on (a Parquet
    row's number). With the accepted rows of the staging models, this accounts for every row
    read. -#}
with

final as (
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
)

select * from final
