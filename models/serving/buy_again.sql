{#- One row per tenant, customer and rank (up to k): items the customer bought, most likely to
    be bought again soon first (served_lists; the scores are repurchase_scores'). The reason
    gives the customer's rhythm where there is one. For a tenant the build holds, its published
    list minus what today's rules forbid (carried_customer_rows). -#}
with

fresh as (
    select * exclude (shelf)
    from {{ ref('served_lists') }}
    where shelf = 'buy_again' and tenant_id not in {{ held_tenants() }}
),

final as (
    select * from fresh
    union all by name
    {{ carried_customer_rows('buy_again', 'buy_again', 'fresh') }}
)

select * from final
