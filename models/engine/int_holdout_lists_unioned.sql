{#- One row per tenant, shelf, algorithm, evaluated customer and rank (<= k): the lists each
    algorithm makes from the holdout fold, to be scored against what came after.
    discover shelf (items not bought before): popularity (the customer's country first, then
    the tenant), co-occurrence, ALS and EASE (each of its variants, and each re-ordered by the
    tenant's learned ranker, cross-fitted: variant '<variant> ranked'). buy_again shelf (items
    bought before): the learned repurchase model and, as its baseline, purchase frequency.
    `variant` is NULL for algorithms that have only one. -#}
with

settings as (
    select tenant_id, k from {{ ref('tenant_settings') }}
),

evaluated as (
    select distinct tenant_id, customer_id from {{ ref('int_holdout_purchases_collected') }}
    where is_evaluated
),

customers as (
    select tenant_id, customer_id, country from {{ ref('int_customers_collected') }}
),

histories as (
    select * from {{ ref('int_interactions_weighted') }}
    where fold = 'holdout' and purchase_occasions > 0
),

popularity as (
    select * from {{ ref('item_popularity') }}
    where fold = 'holdout'
),

bought_counts as (
    select tenant_id, customer_id, count(*) as items_bought
    from histories
    group by tenant_id, customer_id
),

popular_candidates as (
    select
        evaluated.tenant_id,
        evaluated.customer_id,
        popularity.item_id,
        popularity.country is not null as is_from_country,
        popularity.popularity_rank
    from evaluated
    inner join bought_counts
        on evaluated.tenant_id = bought_counts.tenant_id
            and evaluated.customer_id = bought_counts.customer_id
    inner join settings on evaluated.tenant_id = settings.tenant_id
    left join customers
        on evaluated.tenant_id = customers.tenant_id
            and evaluated.customer_id = customers.customer_id
    inner join popularity
        on evaluated.tenant_id = popularity.tenant_id
            and (customers.country = popularity.country or popularity.country is null)
            and popularity.popularity_rank <= settings.k + bought_counts.items_bought
    anti join histories
        on evaluated.tenant_id = histories.tenant_id
            and evaluated.customer_id = histories.customer_id
            and popularity.item_id = histories.item_id
),

popular_lists as (
    select
        tenant_id,
        customer_id,
        item_id,
        row_number() over (
            partition by tenant_id, customer_id
            order by is_from_country desc, popularity_rank asc
        ) as rank
    from (
        select * from popular_candidates
        qualify row_number() over (
                partition by tenant_id, customer_id, item_id order by is_from_country desc
            ) = 1
    ) as deduplicated
),

frequency_lists as (
    select
        histories.tenant_id,
        histories.customer_id,
        histories.item_id,
        row_number() over (
            partition by histories.tenant_id, histories.customer_id
            order by
                histories.purchase_occasions desc,
                histories.last_purchased_at desc,
                histories.item_id asc
        ) as rank
    from histories
    semi join evaluated
        on histories.tenant_id = evaluated.tenant_id
            and histories.customer_id = evaluated.customer_id
),

repurchase_lists as (
    select
        scores.tenant_id,
        scores.customer_id,
        scores.item_id,
        row_number() over (
            partition by scores.tenant_id, scores.customer_id
            order by scores.score desc, scores.item_id asc
        ) as rank
    from {{ ref('repurchase_holdout_scores') }} as scores
    semi join evaluated
        on scores.tenant_id = evaluated.tenant_id
            and scores.customer_id = evaluated.customer_id
    where scores.fold = 'holdout'
),

lists as (
    select
        tenant_id,
        'discover' as shelf,
        'popularity' as algorithm,
        cast(null as varchar) as variant,
        customer_id,
        rank,
        item_id
    from popular_lists
    union all
    select
        tenant_id,
        'discover' as shelf,
        'cooccurrence' as algorithm,
        null as variant,
        customer_id,
        rank,
        item_id
    from {{ ref('int_holdout_cooccurrence_candidates') }}
    where fold = 'holdout'
    union all
    select tenant_id, 'discover' as shelf, algorithm, variant, customer_id, rank, item_id
    from {{ ref('holdout_candidates') }}
    union all
    select tenant_id, 'discover' as shelf, algorithm, variant, customer_id, rank, item_id
    from {{ ref('holdout_ranked_candidates') }}
    union all
    select
        tenant_id,
        'buy_again' as shelf,
        'frequency' as algorithm,
        null as variant,
        customer_id,
        rank,
        item_id
    from frequency_lists
    union all
    select
        tenant_id,
        'buy_again' as shelf,
        'repurchase' as algorithm,
        null as variant,
        customer_id,
        rank,
        item_id
    from repurchase_lists
),

final as (
    select lists.*
    from lists
    inner join settings on lists.tenant_id = settings.tenant_id
    where lists.rank <= settings.k
)

select * from final
