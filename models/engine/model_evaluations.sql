{#- One row per tenant, algorithm, variant, shelf and metric: how well the holdout lists
    (int_holdout_lists_unioned) predicted what evaluated customers bought in the holdout window.
    Metrics at k (the tenant's list length), averaged over the customers with something to
    find on the shelf (discover: items new to them; buy_again: every item they bought):
      precision = hits / k                  recall = hits / relevant
      hit_rate  = 1 if any hit              ndcg = DCG / ideal DCG, DCG = sum 1 / log2(rank + 1)
      map       = sum over hits of (hits so far / rank) / min(relevant, k)
    A customer an algorithm made no list for counts as zero. coverage = distinct items the
    algorithm recommended / the tenant's active items (customers = 0 for this metric). -#}
with

lists as (
    select * from {{ ref('int_holdout_lists_unioned') }}
),

truth as (
    -- the sample of evaluated customers the lists were made for
    select * from {{ ref('int_holdout_purchases_collected') }}
    where is_evaluated
),

settings as (
    select tenant_id, k from {{ ref('tenant_settings') }}
),

active_items as (
    select tenant_id, count(*) as items
    from {{ ref('stg_items') }}
    where is_active
    group by tenant_id
),

-- ideal_dcg of n relevant items: sum over positions 1..n of 1 / log2(position + 1)
positions as (
    select generate_series as position from generate_series(1, 1000)
),

discounts as (
    select
        position,
        sum(1 / log2(position + 1)) over (order by position) as ideal_dcg
    from positions
),

shelf_truth as (
    select tenant_id, 'discover' as shelf, customer_id, item_id
    from truth
    where not was_bought_before
    union all
    select tenant_id, 'buy_again' as shelf, customer_id, item_id
    from truth
),

relevant as (
    select tenant_id, shelf, customer_id, count(*) as relevant
    from shelf_truth
    group by tenant_id, shelf, customer_id
),

shelf_algorithms as (
    select distinct tenant_id, shelf, algorithm, variant from lists
),

evaluated as (
    select relevant.*, shelf_algorithms.algorithm, shelf_algorithms.variant, settings.k
    from relevant
    inner join shelf_algorithms
        on relevant.tenant_id = shelf_algorithms.tenant_id
            and relevant.shelf = shelf_algorithms.shelf
    inner join settings on relevant.tenant_id = settings.tenant_id
),

hits as (
    select
        lists.tenant_id,
        lists.shelf,
        lists.algorithm,
        lists.variant,
        lists.customer_id,
        lists.rank,
        row_number() over (
            partition by
                lists.tenant_id, lists.shelf, lists.algorithm, lists.variant, lists.customer_id
            order by lists.rank
        ) as hits_so_far
    from lists
    semi join shelf_truth
        on lists.tenant_id = shelf_truth.tenant_id
            and lists.shelf = shelf_truth.shelf
            and lists.customer_id = shelf_truth.customer_id
            and lists.item_id = shelf_truth.item_id
),

per_customer as (
    select
        evaluated.tenant_id,
        evaluated.shelf,
        evaluated.algorithm,
        evaluated.variant,
        evaluated.customer_id,
        any_value(evaluated.k) as k,
        any_value(evaluated.relevant) as relevant,
        count(hits.rank) as hits,
        coalesce(sum(1 / log2(hits.rank + 1)), 0) as dcg,
        coalesce(sum(hits.hits_so_far / hits.rank), 0) as precision_sum
    from evaluated
    left join hits
        on evaluated.tenant_id = hits.tenant_id
            and evaluated.shelf = hits.shelf
            and evaluated.algorithm = hits.algorithm
            and evaluated.variant is not distinct from hits.variant
            and evaluated.customer_id = hits.customer_id
    group by
        evaluated.tenant_id,
        evaluated.shelf,
        evaluated.algorithm,
        evaluated.variant,
        evaluated.customer_id
),

averaged as (
    select
        per_customer.tenant_id,
        per_customer.algorithm,
        per_customer.variant,
        per_customer.shelf,
        count(*) as customers,
        avg(per_customer.hits / per_customer.k) as precision,
        avg(per_customer.hits / per_customer.relevant) as recall,
        avg(cast(per_customer.hits > 0 as double)) as hit_rate,
        avg(per_customer.dcg / discounts.ideal_dcg) as ndcg,
        avg(per_customer.precision_sum / least(per_customer.relevant, per_customer.k)) as map
    from per_customer
    inner join discounts
        on least(per_customer.relevant, per_customer.k) = discounts.position
    group by
        per_customer.tenant_id, per_customer.algorithm, per_customer.variant, per_customer.shelf
),

coverage as (
    select
        lists.tenant_id,
        lists.algorithm,
        lists.variant,
        lists.shelf,
        0 as customers,
        count(distinct lists.item_id) / any_value(active_items.items) as value
    from lists
    inner join active_items on lists.tenant_id = active_items.tenant_id
    group by lists.tenant_id, lists.algorithm, lists.variant, lists.shelf
),

final as (
    select tenant_id, algorithm, variant, shelf, metric, value, customers
    from averaged
    unpivot (value for metric in (precision, recall, hit_rate, ndcg, map))
    union all
    select tenant_id, algorithm, variant, shelf, 'coverage' as metric, value, customers
    from coverage
)

select * from final
