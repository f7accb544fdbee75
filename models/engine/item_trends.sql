{#- One row per tenant, fold and item whose buyers grew: items bought by more distinct buyers
    per day in the last `trending_days` before the fold's reference time than in the
    `trending_baseline_days` before that.
        score = (recent buyers + 1) / trending_days
                / ((baseline buyers + 1) / trending_baseline_days)
    (+1 so an item new to the tenant does not divide by zero); only items with at least two
    recent buyers and a score above 1 trend. -#}
with

purchases as (
    select * from {{ ref('int_interactions_retained') }}
    where event_type = 'purchase' and tenant_id in {{ training_tenants() }}
),

folds as (
    select * from {{ ref('int_folds_defined') }}
),

settings as (
    select tenant_id, trending_days, trending_baseline_days from {{ ref('tenant_settings') }}
),

windowed as (
    select
        purchases.tenant_id,
        folds.fold,
        purchases.item_id,
        coalesce(purchases.customer_id, 'session:' || purchases.session_id) as buyer_id,
        purchases.occurred_at >= folds.reference_at - to_days(settings.trending_days)
            as is_recent,
        settings.trending_days,
        settings.trending_baseline_days
    from purchases
    inner join folds
        on purchases.tenant_id = folds.tenant_id
            and purchases.occurred_at < folds.trained_before
    inner join settings on purchases.tenant_id = settings.tenant_id
    where
        purchases.occurred_at >= folds.reference_at
        - to_days(settings.trending_days + settings.trending_baseline_days)
),

counted as (
    select
        tenant_id,
        fold,
        item_id,
        count(distinct buyer_id) filter (where is_recent) as recent_buyers,
        count(distinct buyer_id) filter (where not is_recent) as baseline_buyers,
        any_value(trending_days) as trending_days,
        any_value(trending_baseline_days) as trending_baseline_days
    from windowed
    group by tenant_id, fold, item_id
),

scored as (
    select
        tenant_id,
        fold,
        item_id,
        recent_buyers,
        baseline_buyers,
        ((recent_buyers + 1) / trending_days)
        / ((baseline_buyers + 1) / trending_baseline_days) as score
    from counted
    where recent_buyers >= 2
),

final as (
    select
        *,
        row_number() over (
            partition by tenant_id, fold order by score desc, recent_buyers desc, item_id asc
        ) as trending_rank
    from scored
    where score > 1
)

select * from final
