{#- One row per tenant, country and item bought there (country NULL = the whole tenant):
    how many distinct buyers (customers or guest sessions) bought the item. -#}
with

purchases as (
    select * from {{ ref('stg_interactions') }}
    where event_type = 'purchase'
),

customers as (
    select tenant_id, customer_id, country from {{ ref('int_customers_collected') }}
),

buyers as (
    select
        purchases.tenant_id,
        purchases.item_id,
        customers.country,
        coalesce(purchases.customer_id, 'session:' || purchases.session_id) as buyer_id
    from purchases
    left join customers
        on purchases.tenant_id = customers.tenant_id
            and purchases.customer_id = customers.customer_id
),

counted as (
    select tenant_id, country, item_id, count(distinct buyer_id) as score
    from buyers
    group by grouping sets ((tenant_id, item_id), (tenant_id, country, item_id))
    having grouping(country) = 1 or country is not null
),

final as (
    select
        tenant_id,
        country,
        item_id,
        score,
        row_number() over (
            partition by tenant_id, country order by score desc, item_id asc
        ) as popularity_rank
    from counted
)

select * from final
