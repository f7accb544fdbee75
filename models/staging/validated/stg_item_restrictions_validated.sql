{#- Every row of the item_restrictions input, with the reason it is rejected (NULL = accepted).
    Conflicting rows are all kept: whoever applies them lets "not allowed" win. -#}
with

source as (
    select * from {{ source('inputs', 'item_restrictions') }}
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
        {{ clean_text('item_id') }} as item_id,
        {{ clean_text('category') }} as category,
        {{ clean_text('country') }} as country,
        {{ clean_text('allowed') }} as allowed_text,
        {{ parse_boolean('allowed') }} as is_allowed
    from source
),

checked as materialized (
    select
        *,
        case
            {{ common_rejection_checks() }}
            when item_id is null and category is null then 'neither item_id nor category'
            when country is null then 'empty country'
            when allowed_text is null then 'empty allowed'
            when is_allowed is null then 'unparseable allowed'
        end as row_reason,
        {{ row_hash() }}
    from typed
),

final as (
    {{ duplicate_row_reason('checked', 'row_reason', 'rejection_reason') }}
)

select * exclude (allowed_text) from final
