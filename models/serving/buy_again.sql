{#- One row per tenant, customer and rank (up to k): active items the customer bought, ranked
    by how likely they are to buy them again soon (repurchase_scores). The reason gives the
    customer's rhythm where there is one: "you buy this about every 21 days". -#}
with

scores as (
    select * from {{ ref('repurchase_scores') }}
    where fold = 'full'
),

histories as (
    select * from {{ ref('int_repurchase_features') }}
    where fold = 'full'
),

settings as (
    select tenant_id, k from {{ ref('tenant_settings') }}
    where mode <> 'off'
),

items as (
    select tenant_id, item_id from {{ ref('stg_items') }}
    where is_active
),

ranked as (
    select
        scores.tenant_id,
        scores.customer_id,
        scores.item_id,
        scores.score,
        scores.method,
        histories.purchase_occasions,
        (histories.days_since_first - histories.days_since_last)
        / greatest(histories.purchase_occasions - 1, 1) as usual_interval_days,
        row_number() over (
            partition by scores.tenant_id, scores.customer_id
            order by scores.score desc, scores.item_id asc
        ) as rank,
        settings.k
    from scores
    inner join histories
        on scores.tenant_id = histories.tenant_id
            and scores.customer_id = histories.customer_id
            and scores.item_id = histories.item_id
    inner join settings on scores.tenant_id = settings.tenant_id
    semi join items on scores.tenant_id = items.tenant_id and scores.item_id = items.item_id
),

final as (
    select
        tenant_id,
        customer_id,
        rank,
        item_id,
        score,
        'repurchase' as algorithm,
        case
            when purchase_occasions >= 3 and usual_interval_days >= 1
                then 'you buy this about every ' || cast(round(usual_interval_days) as integer)
                    || ' days'
            when purchase_occasions >= 2
                then 'you bought this ' || purchase_occasions || ' times'
            else 'you bought this before'
        end as reason,
        {{ model_version() }} as model_version,
        {{ build_time() }} as generated_at
    from ranked
    where rank <= k
)

select * from final
