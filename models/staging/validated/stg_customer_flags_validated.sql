{#- Every row of the customer_flags input, with the reason it is rejected (NULL = accepted).
    Flags are lower-cased, so rules can test list_contains(flags, 'no_alcohol'). -#}
with

source as (
    select * from {{ source('inputs', 'customer_flags') }}
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
        lower({{ clean_text('flag') }}) as flag
    from source
),

checked as materialized (
    select
        *,
        case
            {{ common_rejection_checks() }}
            when customer_id is null then 'empty customer_id'
            when flag is null then 'empty flag'
        end as row_reason,
        {{ row_hash() }}
    from typed
),

final as (
    {{ duplicate_row_reason('checked', 'row_reason', 'rejection_reason') }}
)

select * from final
