{#- One row per tenant, fold, item and one of its `similar_items_n` most similar items, by
    co-occurrence in customers' capped histories. With n_i the customers who bought item i,
    n_ij those who bought both and n the customers with a history, the tenant's `similarity`:
        jaccard = n_ij / (n_i + n_j - n_ij)      cosine = n_ij / sqrt(n_i x n_j)
        lift    = n_ij x n / (n_i x n_j)         count  = n_ij -#}
with

pairs as (
    select * from {{ ref('int_item_pairs_counted') }}
),

histories as (
    select * from {{ ref('int_customer_histories_capped') }}
),

settings as (
    select tenant_id, similarity, similar_items_n from {{ ref('tenant_settings') }}
),

item_buyers as (
    select tenant_id, fold, item_id, count(*) as customers
    from histories
    group by tenant_id, fold, item_id
),

fold_customers as (
    select tenant_id, fold, count(distinct customer_id) as customers
    from histories
    group by tenant_id, fold
),

scored as (
    select
        pairs.tenant_id,
        pairs.fold,
        pairs.item_id,
        pairs.other_item_id as similar_item_id,
        pairs.customers as shared_customers,
        settings.similar_items_n,
        case settings.similarity
            when 'jaccard'
                then pairs.customers / (item.customers + other.customers - pairs.customers)
            when 'cosine' then pairs.customers / sqrt(item.customers * other.customers)
            when 'lift'
                then pairs.customers * fold_customers.customers
                    / (item.customers * other.customers)
            else pairs.customers
        end as score
    from pairs
    inner join item_buyers as item
        on pairs.tenant_id = item.tenant_id
            and pairs.fold = item.fold
            and pairs.item_id = item.item_id
    inner join item_buyers as other
        on pairs.tenant_id = other.tenant_id
            and pairs.fold = other.fold
            and pairs.other_item_id = other.item_id
    inner join fold_customers
        on pairs.tenant_id = fold_customers.tenant_id
            and pairs.fold = fold_customers.fold
    inner join settings on pairs.tenant_id = settings.tenant_id
),

ranked as (
    select
        *,
        row_number() over (
            partition by tenant_id, fold, item_id
            order by score desc, shared_customers desc, similar_item_id asc
        ) as rank
    from scored
),

final as (
    select tenant_id, fold, item_id, rank, similar_item_id, score, shared_customers
    from ranked
    where rank <= similar_items_n
)

select * from final
