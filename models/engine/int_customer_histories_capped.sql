{#- One row per tenant, fold, customer and item among the customer's `history_cap` most
    recently bought distinct items. Capping bounds co-occurrence: one customer contributes at
    most history_cap x (history_cap - 1) item pairs, however much they bought. -#}
with

interactions as (
    select * from {{ ref('int_interactions_weighted') }}
    where purchase_occasions > 0
),

settings as (
    select tenant_id, history_cap from {{ ref('tenant_settings') }}
),

ranked as (
    select
        interactions.tenant_id,
        interactions.fold,
        interactions.customer_id,
        interactions.item_id,
        interactions.last_purchased_at,
        settings.history_cap,
        row_number() over (
            partition by interactions.tenant_id, interactions.fold, interactions.customer_id
            order by interactions.last_purchased_at desc, interactions.item_id asc
        ) as recency_rank
    from interactions
    inner join settings on interactions.tenant_id = settings.tenant_id
),

final as (
    select tenant_id, fold, customer_id, item_id, last_purchased_at, recency_rank
    from ranked
    where recency_rank <= history_cap
)

select * from final
