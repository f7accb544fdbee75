{#- Compliance: no served row offers an item where it may not be sold. Restated from the
    inputs, independently of the rule models: an item-level restriction decides for its item
    and country (any "not allowed" wins); otherwise a category-level one decides; a customer
    of unknown country gets no item that is not allowed in some country. Popular lists per
    country too. -#}
with

restrictions as (
    select * from {{ ref('stg_item_restrictions') }}
),

items as (
    select tenant_id, item_id, category from {{ ref('stg_items') }}
),

customers as (
    select tenant_id, customer_id, country from {{ ref('customer_profiles') }}
),

served as (
    select tenant_id, customer_id, item_id, 'recommendations' as list
    from {{ ref('recommendations') }}
    union all
    select tenant_id, customer_id, item_id, 'buy_again' as list
    from {{ ref('buy_again') }}
),

offers as (
    select
        served.list, served.tenant_id, served.customer_id, served.item_id,
        customers.country, items.category
    from served
    inner join customers using (tenant_id, customer_id)
    inner join items using (tenant_id, item_id)
    union all
    select
        'popular_items' as list, popular.tenant_id, null as customer_id, popular.item_id,
        popular.country, items.category
    from {{ ref('popular_items') }} as popular
    inner join items using (tenant_id, item_id)
    where popular.country is not null
),

-- The effective verdict per item and country: item-level rows decide, else category-level.
effective as (
    select
        items.tenant_id,
        items.item_id,
        countries.country,
        coalesce(
            (
                select bool_and(r.is_allowed) from restrictions as r
                where r.tenant_id = items.tenant_id and r.item_id = items.item_id
                    and r.country = countries.country
            ),
            (
                select bool_and(r.is_allowed) from restrictions as r
                where r.tenant_id = items.tenant_id and r.item_id is null
                    and r.category = items.category and r.country = countries.country
            ),
            true
        ) as is_allowed
    from items
    inner join (select distinct tenant_id, country from restrictions) as countries
        on items.tenant_id = countries.tenant_id
),

verdicts as (
    select
        offers.*,
        (
            select effective.is_allowed from effective
            where effective.tenant_id = offers.tenant_id and effective.item_id = offers.item_id
                and effective.country = offers.country
        ) as is_allowed_here,
        exists(
            select 1 from effective
            where effective.tenant_id = offers.tenant_id and effective.item_id = offers.item_id
                and not effective.is_allowed
        ) as is_restricted_somewhere
    from offers
)

select * from verdicts
where
    is_allowed_here = false
    or (country is null and is_restricted_somewhere)
