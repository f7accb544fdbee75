{#- Every row read from an input file is either accepted (in its staging model) or in
    quarantined_rows: rows read = accepted + quarantined, per table. Returns the tables where
    that does not hold.
    Rows read are counted by the recsql plugin as it streams them to the staging models
    (recsql_rows_read, recsql/build/dbt_plugin.py): a stream is read once, and source() here
    would make the plugin read every file again. NULL (never read) counts as a difference. -#}
with

counts as (
    {% for table in input_tables() %}
        select
            '{{ table }}' as source_table,
            recsql_rows_read('{{ table }}') as rows_read,
            (select count(*) from {{ ref('stg_' ~ table) }}) as rows_accepted,
            (
                select count(*) from {{ ref('quarantined_rows') }}
                where source_table = '{{ table }}'
            ) as rows_quarantined
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
)

select * from counts
where rows_read is distinct from rows_accepted + rows_quarantined
