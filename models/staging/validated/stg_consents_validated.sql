{#- Every row of the consents input, with the reason it is rejected (NULL = accepted).
    Several rows per customer are consent changes; the latest applies (later layers). -#}
with

source as (
    select * from {{ source('inputs', 'consents') }}
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
        {{ clean_text('personalization') }} as personalization_text,
        {{ parse_boolean('personalization') }} as has_personalization_consent,
        {{ clean_text('marketing') }} as marketing_text,
        {{ parse_boolean('marketing') }} as has_marketing_consent,
        {{ clean_text('updated_at') }} as updated_at_text,
        {{ parse_timestamp('updated_at') }} as updated_at
    from source
),

checked as materialized (
    select
        *,
        case
            {{ common_rejection_checks() }}
            when customer_id is null then 'empty customer_id'
            when personalization_text is null then 'empty personalization'
            when has_personalization_consent is null then 'unparseable personalization'
            when marketing_text is null then 'empty marketing'
            when has_marketing_consent is null then 'unparseable marketing'
            when updated_at_text is not null and updated_at is null
                then 'unparseable updated_at'
        end as row_reason,
        {{ row_hash() }}
    from typed
),

final as (
    {{ duplicate_row_reason('checked', 'row_reason', 'rejection_reason') }}
)

select * exclude (personalization_text, marketing_text, updated_at_text) from final
