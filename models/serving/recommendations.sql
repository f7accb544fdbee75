{#- One row per tenant, customer and rank (k per customer): the "discover" list, items the
    customer has not bought. Filled in this order: the tenant champion's candidates (best
    first), then items popular in the customer's country, then trending items, then items
    popular in the whole tenant, skipping inactive and already bought items. Every row says
    why: "because you bought <item>" (or "viewed", for an item the customer interacted with
    without buying it), "popular in <country>", "trending" or "popular". -#}
with

customers as (
    select tenant_id, customer_id, country from {{ ref('int_customers_collected') }}
),

settings as (
    select tenant_id, k from {{ ref('tenant_settings') }}
    where mode <> 'off'
),

champions as (
    select tenant_id, champion from {{ ref('tenant_champions') }}
),

items as (
    select tenant_id, item_id, name, is_active from {{ ref('stg_items') }}
),

histories as (
    select tenant_id, customer_id, item_id, purchase_occasions > 0 as is_bought
    from {{ ref('int_interactions_weighted') }}
    where fold = 'full'
),

bought as (
    select tenant_id, customer_id, item_id from histories
    where is_bought
),

bought_counts as (
    select tenant_id, customer_id, count(*) as items_bought
    from bought
    group by tenant_id, customer_id
),

popularity as (
    select * from {{ ref('item_popularity') }}
    where fold = 'full'
),

trending as (
    select * from {{ ref('item_trends') }}
    where fold = 'full'
),

algorithm_candidates as (
    select tenant_id, customer_id, item_id, score, because_item_id, algorithm, rank
    from {{ ref('customer_candidates') }}
    union all
    select
        candidates.tenant_id,
        candidates.customer_id,
        candidates.item_id,
        candidates.score,
        candidates.because_item_id,
        'cooccurrence' as algorithm,
        candidates.rank
    from {{ ref('int_cooccurrence_candidates_scored') }} as candidates
    inner join champions
        on candidates.tenant_id = champions.tenant_id
            and champions.champion = 'cooccurrence'
    where candidates.fold = 'full'
),

served_customers as (
    select
        customers.*,
        settings.k,
        coalesce(bought_counts.items_bought, 0) as items_bought
    from customers
    inner join settings on customers.tenant_id = settings.tenant_id
    left join bought_counts
        on customers.tenant_id = bought_counts.tenant_id
            and customers.customer_id = bought_counts.customer_id
),

fill_candidates as (
    select
        served_customers.tenant_id,
        served_customers.customer_id,
        popularity.item_id,
        popularity.score,
        cast(null as varchar) as because_item_id,
        'popularity' as algorithm,
        case when popularity.country is null then 4 else 2 end as source_order,
        popularity.popularity_rank as rank,
        case
            when popularity.country is null then 'popular'
            else 'popular in ' || popularity.country
        end as reason
    from served_customers
    inner join popularity
        on served_customers.tenant_id = popularity.tenant_id
            and (served_customers.country = popularity.country or popularity.country is null)
            and popularity.popularity_rank <= served_customers.k + served_customers.items_bought
    union all
    select
        served_customers.tenant_id,
        served_customers.customer_id,
        trending.item_id,
        trending.score,
        null as because_item_id,
        'trending' as algorithm,
        3 as source_order,
        trending.trending_rank as rank,
        'trending' as reason
    from served_customers
    inner join trending
        on served_customers.tenant_id = trending.tenant_id
            and trending.trending_rank <= served_customers.k + served_customers.items_bought
),

candidates as (
    select
        algorithm_candidates.tenant_id,
        algorithm_candidates.customer_id,
        algorithm_candidates.item_id,
        algorithm_candidates.score,
        algorithm_candidates.because_item_id,
        algorithm_candidates.algorithm,
        1 as source_order,
        algorithm_candidates.rank,
        case
            when because_history.is_bought then 'because you bought '
            else 'because you viewed '
        end
        || coalesce(because.name, because.item_id) as reason
    from algorithm_candidates
    left join items as because
        on algorithm_candidates.tenant_id = because.tenant_id
            and algorithm_candidates.because_item_id = because.item_id
    left join histories as because_history
        on algorithm_candidates.tenant_id = because_history.tenant_id
            and algorithm_candidates.customer_id = because_history.customer_id
            and algorithm_candidates.because_item_id = because_history.item_id
    union all
    select * from fill_candidates
),

eligible as (
    select candidates.*
    from candidates
    inner join items
        on candidates.tenant_id = items.tenant_id
            and candidates.item_id = items.item_id
            and items.is_active
    anti join bought
        on candidates.tenant_id = bought.tenant_id
            and candidates.customer_id = bought.customer_id
            and candidates.item_id = bought.item_id
    qualify row_number() over (
            partition by candidates.tenant_id, candidates.customer_id, candidates.item_id
            order by candidates.source_order, candidates.rank
        ) = 1
),

ranked as (
    select
        eligible.*,
        row_number() over (
            partition by eligible.tenant_id, eligible.customer_id
            order by eligible.source_order, eligible.rank, eligible.item_id
        ) as list_rank
    from eligible
),

final as (
    select
        ranked.tenant_id,
        ranked.customer_id,
        ranked.list_rank as rank,
        ranked.item_id,
        ranked.score,
        ranked.algorithm,
        ranked.reason,
        {{ model_version() }} as model_version,
        {{ build_time() }} as generated_at
    from ranked
    inner join settings on ranked.tenant_id = settings.tenant_id
    where ranked.list_rank <= settings.k
)

select * from final
