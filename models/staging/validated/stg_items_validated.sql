{#- Every row of the items input, typed, with the reason it is rejected (NULL = accepted).
    Extra columns of the file are kept as item attributes for rules. -#}
with

source as (
    select * from {{ source('inputs', 'items') }}
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
        {{ clean_text('name') }} as name,
        {{ clean_text('category') }} as category,
        {{ clean_text('brand') }} as brand,
        {{ clean_text('price') }} as price_text,
        {{ parse_number('price') }} as price,
        {{ clean_text('is_active') }} as is_active_text,
        coalesce({{ parse_boolean('is_active') }}, true) as is_active,
        {{ clean_text('min_age') }} as min_age_text,
        {{ parse_integer('min_age') }} as min_age,
        {{ clean_text('sustainability_score') }} as sustainability_score_text,
        {{ parse_number('sustainability_score') }} as sustainability_score,
        {{ clean_text('launched_at') }} as launched_at_text,
        {{ parse_timestamp('launched_at') }} as launched_at,
        * exclude (
            tenant_id, item_id, name, category, brand, price, is_active, min_age,
            sustainability_score, launched_at,
            _source_row, _load_error, _row_json, _row, _source_file, _source_line
        )
    from source
),

checked as materialized (
    select
        *,
        case
            {{ common_rejection_checks() }}
            when item_id is null then 'empty item_id'
            when price_text is not null and price is null then 'unparseable price'
            when price < 0 then 'negative price'
            when is_active_text is not null and {{ parse_boolean('is_active_text') }} is null
                then 'unparseable is_active'
            when min_age_text is not null and min_age is null then 'unparseable min_age'
            when min_age < 0 then 'negative min_age'
            when sustainability_score_text is not null and sustainability_score is null
                then 'unparseable sustainability_score'
            when sustainability_score not between 0 and 1
                then 'sustainability_score outside 0..1'
            when launched_at_text is not null and launched_at is null
                then 'unparseable launched_at'
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
        {{ conflicting_key_reason('duplicate_reason', ['tenant_id', 'item_id']) }}
            as rejection_reason
    from deduplicated
),

final as (
    -- the text of a rejected row, for quarantined_rows (of an accepted one: never needed)
    select * exclude (_row) replace ({{ rejected_row_text('rejection_reason') }} as row_json)
    from keyed
)

select
    * exclude (
        price_text, is_active_text, min_age_text, sustainability_score_text, launched_at_text
    )
from final
