{#- One row per tenant, customer and rank: the "discover" list, items the customer has not
    bought. For now: the most popular items in the customer's country, then in the tenant. -#}
with

customers as (
    select tenant_id, customer_id, country from {{ ref('int_customers_collected') }}
),

settings as (
    select tenant_id, k from {{ ref('tenant_settings') }}
    where mode <> 'off'
),

popular as (
    select * from {{ ref('popular_items') }}
),

bought as (
    select distinct tenant_id, customer_id, item_id
    from {{ ref('stg_interactions') }}
    where event_type = 'purchase' and customer_id is not null
),

candidates as (
    select
        customers.tenant_id,
        customers.customer_id,
        popular.item_id,
        popular.score,
        popular.country is not null as is_from_country,
        'popular in ' || popular.country as country_reason,
        popular.rank as popularity_rank
    from customers
    inner join popular
        on customers.tenant_id = popular.tenant_id
            and (customers.country = popular.country or popular.country is null)
),

unbought as (
    select * from candidates
    anti join bought
        on candidates.tenant_id = bought.tenant_id
            and candidates.customer_id = bought.customer_id
            and candidates.item_id = bought.item_id
),

ranked as (
    select
        *,
        row_number() over (
            partition by tenant_id, customer_id, item_id
            order by is_from_country desc
        ) as item_occurrence,
    from unbought
),

final as (
    select
        ranked.tenant_id,
        ranked.customer_id,
        row_number() over (
            partition by ranked.tenant_id, ranked.customer_id
            order by ranked.is_from_country desc, ranked.popularity_rank asc
        ) as rank,
        ranked.item_id,
        ranked.score,
        'popularity' as algorithm,
        coalesce(ranked.country_reason, 'popular') as reason,
        {{ model_version() }} as model_version,
        {{ build_time() }} as generated_at
    from ranked
    where ranked.item_occurrence = 1
    qualify rank <= (select k from settings where settings.tenant_id = ranked.tenant_id)
)

select * from final
