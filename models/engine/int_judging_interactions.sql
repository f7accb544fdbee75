{#- One row per tenant whose candidate the promotion gate judges this build (tenant_plans
    trigger 'promotion'), customer and item: the customer's history up to the candidate's
    data_until — affinity weighted as in training (int_interactions_weighted), decayed to that
    time; purchase occasions; the first and last purchase — and whether they bought the item
    after it: the window neither version has seen, on which both are judged
    (promotion_judgements). -#}
with

judged as (
    select
        plans.tenant_id,
        plans.candidate_data_until as cutoff,
        settings.half_life_days
    from {{ ref('tenant_plans') }} as plans
    inner join {{ ref('tenant_settings') }} as settings on plans.tenant_id = settings.tenant_id
    where plans.trigger = 'promotion'
),

interactions as (
    select retained.*
    from {{ ref('int_interactions_retained') }} as retained
    semi join judged on retained.tenant_id = judged.tenant_id
    where retained.customer_id is not null
),

events as (
    select
        interactions.tenant_id,
        interactions.customer_id,
        interactions.item_id,
        interactions.event_type,
        interactions.occurred_at,
        interactions.occurred_at <= judged.cutoff as is_history,
        coalesce(interactions.session_id, strftime(interactions.occurred_at, '%Y-%m-%d'))
            as occasion,
        {{ interaction_affinity(
            'event_types.weight', 'interactions.quantity', 'interactions.occurred_at',
            'judged.cutoff', 'judged.half_life_days'
        ) }} as contribution
    from interactions
    inner join judged on interactions.tenant_id = judged.tenant_id
    inner join {{ ref('event_types') }} as event_types
        on interactions.event_type = event_types.event_type
),

final as (
    select
        tenant_id,
        customer_id,
        item_id,
        coalesce(sum(contribution) filter (where is_history), 0) as affinity,
        count(distinct occasion) filter (where is_history and event_type = 'purchase')
            as purchase_occasions,
        min(occurred_at) filter (where is_history and event_type = 'purchase')
            as first_purchased_at,
        max(occurred_at) filter (where is_history and event_type = 'purchase')
            as last_purchased_at,
        count(*) filter (where not is_history and event_type = 'purchase') > 0
            as is_bought_after
    from events
    group by tenant_id, customer_id, item_id
)

select * from final
