{#- Every row of the customers input, typed, with the reason it is rejected (NULL = accepted).
    Extra columns of the file are kept as customer attributes for rules. -#}
with

source as (
    select * from {{ source('inputs', 'customers') }}
),

typed as (
    select
        _source_row,
        _load_error,
        _row_json as row_json,
        _row,
        _source_file,
        _source_line,
        {{ clean_text('tenant_id') }} as tenant_id,
        {{ clean_text('customer_id') }} as customer_id,
        {{ clean_text('country') }} as country,
        {{ clean_text('birth_date') }} as birth_date_text,
        {{ parse_date('birth_date') }} as birth_date,
        {{ clean_text('created_at') }} as created_at_text,
        {{ parse_timestamp('created_at') }} as created_at,
        * exclude (
            tenant_id, customer_id, country, birth_date, created_at,
            _source_row, _load_error, _row_json, _row, _source_file, _source_line
        )
    from source
),

checked as materialized (
    select
        *,
        case
            {{ common_rejection_checks() }}
            when customer_id is null then 'empty customer_id'
            when birth_date_text is not null and birth_date is null then 'unparseable birth_date'
            when birth_date > cast({{ build_time() }} as date) then 'birth_date in the future'
            when created_at_text is not null and created_at is null
                then 'unparseable created_at'
        end as row_reason,
        {{ row_hash() }}
    from typed
),

deduplicated as (
    {{ duplicate_row_reason('checked', 'row_reason', 'duplicate_reason', 'as read') }}
),

keyed as (
    select
        * exclude (duplicate_reason),
        {{ conflicting_key_reason('duplicate_reason', ['tenant_id', 'customer_id']) }}
            as rejection_reason
    from deduplicated
),

final as (
    -- the text of a rejected row, for quarantined_rows (of an accepted one: never needed)
    select * exclude (_row) replace ({{ rejected_row_text('rejection_reason') }} as row_json)
    from keyed
)

select * exclude (birth_date_text, created_at_text) from final
