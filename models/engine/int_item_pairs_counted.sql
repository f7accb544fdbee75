{#- One row per tenant, fold and ordered pair of distinct items bought by at least
    `min_support` of the same customers (in their capped histories), with that number. Both
    orders of a pair are present, so every item finds its partners by its own id: each pair is
    counted once (the lower id first: half the join and the grouping, 1.2 -> 0.55 s on the
    demo) and written both ways. -#}
with

histories as (
    select tenant_id, fold, customer_id, item_id from {{ ref('int_customer_histories_capped') }}
    where tenant_id in {{ training_tenants() }}
),

settings as (
    select tenant_id, min_support from {{ ref('tenant_settings') }}
),

pairs as (
    select
        histories.tenant_id,
        histories.fold,
        histories.item_id,
        partners.item_id as other_item_id,
        count(*) as customers
    from histories
    inner join histories as partners
        on histories.tenant_id = partners.tenant_id
            and histories.fold = partners.fold
            and histories.customer_id = partners.customer_id
            and histories.item_id < partners.item_id
    group by histories.tenant_id, histories.fold, histories.item_id, partners.item_id
),

supported as (
    select pairs.*
    from pairs
    inner join settings on pairs.tenant_id = settings.tenant_id
    where pairs.customers >= settings.min_support
),

final as (
    select tenant_id, fold, item_id, other_item_id, customers from supported
    union all
    select tenant_id, fold, other_item_id as item_id, item_id as other_item_id, customers
    from supported
)

select * from final
