{#- One row per tenant the build trains or scores (tenant_plans: a held or off tenant needs
    none), fold, customer and item the customer interacted with before the fold's training
    cutoff: the affinity and the purchase history behind it. Guest events (no customer) are
    left out; they count in popularity only.

    affinity = sum over events of
        weight(event_type) x log2(1 + quantity) x 0.5 ^ (age in days / half_life_days)
    with the weights of seeds/event_types.csv (a return's weight is negative), the age taken
    from the fold's reference time. It can be zero or negative (everything returned).

    Its rows are the engine's input: how many there are decides whether the build is small
    enough for the engine's Python models to run beside its SQL models (recsql_engine_rows,
    recsql/build/scheduling.py). -#}
{{ config(post_hook="select recsql_engine_rows(count(*)) from {{ this }}") }}
with

interactions as (
    select * from {{ ref('int_interactions_retained') }}
    where customer_id is not null and tenant_id in {{ fresh_tenants() }}
),

folds as (
    select * from {{ ref('int_folds_defined') }}
),

event_types as (
    select * from {{ ref('event_types') }}
),

weighted as (
    select
        interactions.tenant_id,
        folds.fold,
        interactions.customer_id,
        interactions.item_id,
        interactions.event_type,
        interactions.occurred_at,
        coalesce(interactions.session_id, strftime(interactions.occurred_at, '%Y-%m-%d'))
            as occasion,
        {{ interaction_affinity(
            'event_types.weight', 'interactions.quantity', 'interactions.occurred_at',
            'folds.reference_at', 'folds.half_life_days'
        ) }} as contribution
    from interactions
    inner join folds
        on interactions.tenant_id = folds.tenant_id
            and interactions.occurred_at < folds.trained_before
    inner join event_types on interactions.event_type = event_types.event_type
),

-- the occasions first, then the pairs: a count(distinct occasion) here was a group-by of its
-- own joined back to the other aggregates (20.5 s at 4,000 tenants; these two: 16.5 s)
occasions as (
    select
        tenant_id,
        fold,
        customer_id,
        item_id,
        sum(contribution) as affinity,
        bool_or(event_type = 'purchase') as is_purchase,
        count(*) filter (where event_type = 'return') as returns,
        min(occurred_at) filter (where event_type = 'purchase') as first_purchased_at,
        max(occurred_at) filter (where event_type = 'purchase') as last_purchased_at,
        max(occurred_at) as last_interacted_at
    from weighted
    group by tenant_id, fold, customer_id, item_id, occasion
),

final as (
    select
        tenant_id,
        fold,
        customer_id,
        item_id,
        sum(affinity) as affinity,
        count(*) filter (where is_purchase) as purchase_occasions,
        cast(sum(returns) as bigint) as returns,
        min(first_purchased_at) as first_purchased_at,
        max(last_purchased_at) as last_purchased_at,
        max(last_interacted_at) as last_interacted_at
    from occasions
    group by tenant_id, fold, customer_id, item_id
)

select * from final
