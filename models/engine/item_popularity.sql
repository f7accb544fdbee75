{#- One row per tenant, fold, country and item bought there before the fold's cutoff (country
    NULL = the whole tenant): the time-decayed number of distinct buyers,
        score = sum over buyers of 0.5 ^ (days since their last purchase / half_life_days),
    where a buyer is a customer or a guest session (guests count for the whole tenant only,
    having no country). Counting buyers, not units, keeps one wholesale order from topping
    the list. -#}
with

purchases as (
    select * from {{ ref('int_interactions_retained') }}
    where event_type = 'purchase' and tenant_id in {{ training_tenants() }}
),

folds as (
    select * from {{ ref('int_folds_defined') }}
),

customers as (
    select tenant_id, customer_id, country from {{ ref('int_customers_collected') }}
),

buyers as (
    select
        purchases.tenant_id,
        folds.fold,
        purchases.item_id,
        coalesce(purchases.customer_id, 'session:' || purchases.session_id) as buyer_id,
        max(customers.country) as country,
        pow(
            0.5,
            greatest(date_diff('second', max(purchases.occurred_at), max(folds.reference_at)), 0)
            / 86400.0 / max(folds.half_life_days)
        ) as recency_weight
    from purchases
    inner join folds
        on purchases.tenant_id = folds.tenant_id
            and purchases.occurred_at < folds.trained_before
    left join customers
        on purchases.tenant_id = customers.tenant_id
            and purchases.customer_id = customers.customer_id
    group by purchases.tenant_id, folds.fold, purchases.item_id, buyer_id
),

scored as (
    select
        tenant_id,
        fold,
        country,
        item_id,
        sum(recency_weight) as score,
        count(*) as buyers
    from buyers
    group by grouping sets ((tenant_id, fold, item_id), (tenant_id, fold, country, item_id))
    having grouping(country) = 1 or country is not null
),

final as (
    select
        tenant_id,
        fold,
        country,
        item_id,
        score,
        buyers,
        row_number() over (
            partition by tenant_id, fold, country order by score desc, item_id asc
        ) as popularity_rank
    from scored
)

select * from final
