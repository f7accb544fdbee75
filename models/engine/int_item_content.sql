{#- One row per tenant served fresh lists, item and content feature: what the item's metadata
    says about it, for new-item cold start (new_item_candidates, docs/engine.md#new-items-for-you).
    The features are the words of its name (letters only, three or more, lower case), its
    category, its brand and its price band (one band per doubling of the price), each weighted
    by its inverse document frequency among the tenant's items (a feature every item has says
    nothing and is left out); new_item_candidates scales each item's weights to unit length, so
    that the dot product of two items is the cosine of their contents. `is_new`: an active item
    launched in the tenant's last new_item_days before the build's clock, or, without a launch
    date, one that nobody has bought. -#}
with

items as (
    select tenant_id, item_id, name, category, brand, price, is_active, launched_at
    from {{ ref('stg_items') }}
    where tenant_id in {{ fresh_tenants() }}
),

bought as (
    select distinct tenant_id, item_id
    from {{ ref('int_interactions_retained') }}
    where event_type = 'purchase' and tenant_id in {{ fresh_tenants() }}
),

settings as (
    select tenant_id, new_item_days from {{ ref('tenant_settings') }}
),

features as (
    select
        tenant_id,
        item_id,
        'word:' || unnest(list_distinct(regexp_extract_all(lower(name), '\pL{3,}'))) as feature
    from items
    union all
    select tenant_id, item_id, 'category:' || lower(trim(category)) as feature
    from items
    where category is not null
    union all
    select tenant_id, item_id, 'brand:' || lower(trim(brand)) as feature
    from items
    where brand is not null
    union all
    select
        tenant_id,
        item_id,
        'price:' || cast(floor(log2(price)) as bigint) as feature
    from items
    where price > 0
),

documents as (
    select tenant_id, count(*) as items from items group by tenant_id
),

idf as (
    select
        features.tenant_id,
        features.item_id,
        features.feature,
        ln(documents.items / count(*) over (partition by features.tenant_id, features.feature))
            as idf
    from (select distinct * from features) as features
    inner join documents on features.tenant_id = documents.tenant_id
),

informative as (
    select * from idf where idf > 0
),

final as (
    select
        informative.tenant_id,
        informative.item_id,
        items.is_active
        and coalesce(
            items.launched_at <= {{ build_time() }}
            and items.launched_at
            > {{ build_time() }}
            - to_microseconds(cast(settings.new_item_days * 86400e6 as bigint)),
            items.launched_at is null and bought.item_id is null
        ) as is_new,
        informative.feature,
        -- scaled to unit length per item in Python (new_items.content_matrix): a sum over a
        -- parallel window may add in any order, and the last bit of a similarity decides ties
        informative.idf as weight
    from informative
    inner join items
        on informative.tenant_id = items.tenant_id and informative.item_id = items.item_id
    inner join settings on informative.tenant_id = settings.tenant_id
    left join bought
        on informative.tenant_id = bought.tenant_id and informative.item_id = bought.item_id
)

select * from final
