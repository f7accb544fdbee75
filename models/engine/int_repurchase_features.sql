{#- One row per tenant, fold, customer and item the customer bought before the fold's cutoff:
    what predicts buying it again soon (recsql/engine/repurchase.py learns how much each counts, per
    tenant). In the 'holdout' fold, `is_bought_again` is the label: bought again in the test
    window. `decayed_occasions`: the purchase occasions halved every half_life_days since the
    last one, the fixed rule of a tenant too small to learn a model. -#}
with

interactions as (
    -- the holdout fold (what the model learns from) of the tenants trained in this build; the
    -- full fold (what is scored) of every tenant
    select * from {{ ref('int_interactions_weighted') }}
    where fold = 'full' or tenant_id in {{ training_tenants() }}
),

folds as (
    select * from {{ ref('int_folds_defined') }}
),

truth as (
    select * from {{ ref('int_holdout_purchases_collected') }}
),

settings as (
    select tenant_id, holdout_days from {{ ref('tenant_settings') }}
),

bought as (
    select
        interactions.*,
        date_diff('second', interactions.last_purchased_at, folds.reference_at) / 86400.0
            as days_since_last,
        date_diff('second', interactions.first_purchased_at, folds.reference_at) / 86400.0
            as days_since_first,
        interactions.purchase_occasions * pow(
            0.5,
            greatest(
                date_diff('second', interactions.last_purchased_at, folds.reference_at), 0
            ) / 86400.0 / folds.half_life_days
        ) as decayed_occasions,
        interactions.last_purchased_at
        >= folds.reference_at - to_microseconds(cast(settings.holdout_days * 86400e6 as bigint))
            as is_recent
    from interactions
    inner join folds
        on interactions.tenant_id = folds.tenant_id and interactions.fold = folds.fold
    inner join settings on interactions.tenant_id = settings.tenant_id
    where interactions.purchase_occasions > 0
),

customers as (
    select
        tenant_id,
        fold,
        customer_id,
        sum(purchase_occasions) as customer_occasions,
        min(days_since_last) as customer_days_since_last,
        count(*) as customer_items
    from bought
    group by tenant_id, fold, customer_id
),

items as (
    select
        tenant_id,
        fold,
        item_id,
        count(*) as item_buyers,
        count(*) filter (where is_recent) as item_recent_buyers,
        avg(cast(purchase_occasions > 1 as double)) as item_repeat_rate
    from bought
    group by tenant_id, fold, item_id
),

final as (
    select
        bought.tenant_id,
        bought.fold,
        bought.customer_id,
        bought.item_id,
        bought.purchase_occasions,
        bought.days_since_last,
        bought.days_since_first,
        bought.decayed_occasions,
        greatest(bought.affinity, 0) as affinity,
        bought.returns,
        case
            when bought.purchase_occasions > 1
                then bought.days_since_last
                    / greatest(
                        (bought.days_since_first - bought.days_since_last)
                        / (bought.purchase_occasions - 1),
                        1
                    )
            else 0
        end as interval_ratio,
        customers.customer_occasions,
        customers.customer_days_since_last,
        customers.customer_items,
        items.item_buyers,
        items.item_recent_buyers,
        items.item_repeat_rate,
        -- Two halves of the customers: a model fit on one half scores the other, so the
        -- offline evaluation of buy-again lists is out of sample.
        hash(bought.customer_id) % 2 as cross_fit_group,
        case
            when bought.fold = 'holdout' then truth.item_id is not null
        end as is_bought_again
    from bought
    inner join customers
        on bought.tenant_id = customers.tenant_id
            and bought.fold = customers.fold
            and bought.customer_id = customers.customer_id
    inner join items
        on bought.tenant_id = items.tenant_id
            and bought.fold = items.fold
            and bought.item_id = items.item_id
    left join truth
        on bought.fold = 'holdout'
            and bought.tenant_id = truth.tenant_id
            and bought.customer_id = truth.customer_id
            and bought.item_id = truth.item_id
)

select * from final
