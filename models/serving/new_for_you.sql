{#- One row per tenant, customer and rank (up to k): new items - launched in the tenant's last
    new_item_days, or never bought - most like what the customer interacted with, by content
    (served_lists; the scores are new_item_candidates'). The reason names the item of their
    history most like it. For a tenant the build holds, its published list minus what today's
    rules forbid (carried_customer_rows). -#}
with

fresh as (
    select * exclude (shelf)
    from {{ ref('served_lists') }}
    where shelf = 'new_for_you' and tenant_id not in {{ held_tenants() }}
),

final as (
    select * from fresh
    union all by name
    {{ carried_customer_rows('new_for_you', 'new_for_you', 'fresh') }}
)

select * from final
