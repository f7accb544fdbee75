{#- One row per tenant, matrix algorithm and variant, evaluated customer and candidate (their
    top candidates_n of the holdout fold): what the learned ranker learns from
    (recsql/engine/ranker.py). Every feature is as of the holdout cutoff: the model's score and
    rank (holdout_candidates, fitted before it), the item's popularity and trend of the holdout
    fold; the label `is_bought` says whether the customer bought the item in the holdout
    window. `cross_fit_group` halves the customers (by a hash of their id) for the
    cross-fitted evaluation. -#}
with

items as (
    {{ ranking_item_features(ref('item_popularity'), ref('item_trends'), "fold = 'holdout'") }}
),

bought as (
    select tenant_id, customer_id, item_id
    from {{ ref('int_holdout_purchases_collected') }}
    where is_evaluated and not was_bought_before
),

final as (
    select
        candidates.tenant_id,
        candidates.algorithm,
        candidates.variant,
        candidates.customer_id,
        candidates.rank,
        candidates.item_id,
        candidates.score,
        items.buyers,
        items.popularity,
        items.trend_score,
        items.recent_buyers,
        bought.item_id is not null as is_bought,
        hash(candidates.customer_id) % 2 as cross_fit_group
    from {{ ref('holdout_candidates') }} as candidates
    left join items
        on candidates.tenant_id = items.tenant_id and candidates.item_id = items.item_id
    left join bought
        on candidates.tenant_id = bought.tenant_id
            and candidates.customer_id = bought.customer_id
            and candidates.item_id = bought.item_id
)

select * from final
