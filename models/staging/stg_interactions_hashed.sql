{#- One row per tenant the interactions input names (as written, trimmed; a row with no
    tenant_id names none): the sum of its rows' hashes as read - every column as text, accepted
    or not, in any order, file or line - and their number. Only where the input is read from
    its Parquet files (recsql_input_is_native, recsql/build/dbt_plugin.py), which cost a
    fifth of a second for 5 million rows; a stream is read once, by its staging model, and
    gives no rows here. What decides, before the interactions are staged, which tenants the
    build carries without staging them (stg_carried_tenants). -#}
{{ config(materialized='table') }}
{%- set native = input_is_native('interactions') -%}
{#- the source is named either way, so that dbt orders the models and loads it -#}
{%- set interactions = source('inputs', 'interactions') %}
{%- if native %}
    select
        {{ clean_text('tenant_id') }} as tenant_id,
        -- every column as read, as text
        (sum(hash(_row)::hugeint) % 18446744073709551616)::varchar as raw_rows_hash,
        count(*) as raw_rows
    from {{ interactions }}
    group by all
{%- else %}
    -- a stream: not read here
    select null::varchar as tenant_id, null::varchar as raw_rows_hash, 0::bigint as raw_rows
    where false
{%- endif %}
