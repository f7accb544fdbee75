{#- One row per tenant, customer and rank (k per customer, or none): the "discover" list, a
    push list of items the customer has not bought (served_lists); for a tenant the build holds,
    its published list minus what today's rules forbid (carried_customer_rows). -#}
with

fresh as (
    select * exclude (shelf)
    from {{ ref('served_lists') }}
    where shelf = 'discover' and tenant_id not in {{ held_tenants() }}
),

final as (
    select * from fresh
    union all by name
    {{ carried_customer_rows('recommendations', 'discover', 'fresh') }}
)

select * from final
