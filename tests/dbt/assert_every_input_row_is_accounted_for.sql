{#- Every row read from an input file is either accepted (in its staging model) or in
    quarantined_rows: rows read = accepted + quarantined, per table. Returns the tables where
    that does not hold.
    Rows read are counted in the tables the recsql plugin loaded the files into (what the
    staging models' source() reads), named directly: source() here would make the plugin read
    every file again (dbt-duckdb loads a plugin source each time a node names it). -#}
with

counts as (
    {% for table in input_tables() %}
        select
            '{{ table }}' as source_table,
            (select count(*) from {{ loaded_input(table) }}) as rows_read,
            (select count(*) from {{ ref('stg_' ~ table) }}) as rows_accepted,
            (
                select count(*) from {{ ref('quarantined_rows') }}
                where source_table = '{{ table }}'
            ) as rows_quarantined
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
)

select * from counts
where rows_read <> rows_accepted + rows_quarantined
