{#- Every row of the interactions input, typed, with the reason it is rejected (NULL = accepted),
    but those of the tenants carried before staging (stg_carried_tenants).
    A row with no customer_id but a session_id is a guest event: accepted, with customer_id NULL. -#}
with

-- every row but those of the tenants this build carries without staging their interactions
-- (their raw rows are those their published lists were made from: tenant_plans holds them,
-- input_row_counts and quarantined_rows keep their published rows)
source as (
    select rows_read.*
    from {{ source('inputs', 'interactions') }} as rows_read
    anti join {{ ref('stg_carried_tenants') }} as carried
        on {{ clean_text('rows_read.tenant_id') }} = carried.tenant_id
),

event_types as (
    select event_type from {{ ref('event_types') }}
),

items as (
    select tenant_id, item_id from {{ ref('stg_items') }}
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
        {{ clean_text('item_id') }} as item_id,
        {{ clean_text('occurred_at') }} as occurred_at_text,
        {{ parse_timestamp('occurred_at') }} as occurred_at,
        coalesce(lower({{ clean_text('event_type') }}), 'purchase') as event_type,
        {{ clean_text('quantity') }} as quantity_text,
        coalesce({{ parse_number('quantity') }}, 1) as signed_quantity,
        {{ clean_text('value') }} as value_text,
        {{ parse_number('value') }} as value,
        {{ clean_text('session_id') }} as session_id
    from source
),

signed as (
    select
        *,
        -- ERP exports often sign returns negative: a return's quantity is its magnitude.
        case when event_type = 'return' then abs(signed_quantity) else signed_quantity end
            as quantity
    from typed
),

checked as materialized (
    select
        *,
        case
            {{ common_rejection_checks() }}
            when customer_id is null and session_id is null then 'empty customer_id'
            when item_id is null then 'empty item_id'
            when occurred_at_text is null then 'empty occurred_at'
            when occurred_at is null then 'unparseable occurred_at'
            when occurred_at > {{ build_time() }} + interval 1 day
                then 'occurred_at in the future'
            when event_type not in (select event_type from event_types)
                then 'unknown event_type'
            when quantity_text is not null and {{ parse_number('quantity_text') }} is null
                then 'unparseable quantity'
            when quantity <= 0 then 'non-positive quantity'
            when value_text is not null and value is null then 'unparseable value'
            when not exists (
                    select 1 from items
                    where items.tenant_id = signed.tenant_id and items.item_id = signed.item_id
                ) then 'item not in items'
        end as row_reason,
        {{ row_hash() }}
    from signed
),

-- the row as read is kept for rejected rows only (quarantined_rows): millions of accepted
-- interactions need no copy of it
final as (
    {{ duplicate_row_reason('checked', 'row_reason', 'rejection_reason', 'rejected rows') }}
)

select * exclude (occurred_at_text, quantity_text, signed_quantity, value_text)
from final
