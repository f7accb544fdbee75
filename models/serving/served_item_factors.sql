{#- One row per tenant and item: the ALS item factors the published recommend() macros fold a
    customer in with (recsql_data.item_factors) - those of the version serving each tenant
    (active_item_factors), and for a tenant the build holds, those it was published with
    (previous_rows). -#}
with

fresh as (
    select tenant_id, item_id, factors from {{ ref('active_item_factors') }}
    where tenant_id not in {{ held_tenants() }}
),

final as (
    select * from fresh
    union all
    {{ previous_rows('item_factors', ['tenant_id', 'item_id', 'factors'], 'fresh') }}
)

select * from final
