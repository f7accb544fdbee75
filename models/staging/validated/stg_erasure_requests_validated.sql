{#- Every row of the erasure_requests input, with the reason it is rejected (NULL = accepted). -#}
with

source as (
    select * from {{ source('inputs', 'erasure_requests') }}
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
        {{ clean_text('requested_at') }} as requested_at_text,
        {{ parse_timestamp('requested_at') }} as requested_at
    from source
),

checked as materialized (
    select
        *,
        case
            {{ common_rejection_checks() }}
            when customer_id is null then 'empty customer_id'
            when requested_at_text is null then 'empty requested_at'
            when requested_at is null then 'unparseable requested_at'
        end as row_reason,
        {{ row_hash() }}
    from typed
),

final as (
    {{ duplicate_row_reason('checked', 'row_reason', 'rejection_reason') }}
)

select * exclude (requested_at_text) from final
