{#- One row per tenant (not kept whole: kept_tenants) and item: what the business rules need
    to know about it.
    `blocked_countries`: where it may not be offered (item_restrictions). An item-level row
    decides for its item and country; otherwise a category-level row decides for every item of
    the category; where rows of the same level conflict, "not allowed" wins.
    `rule_keys`: the rules whose item_condition matches it ('<scope>:<rule_id>'). -#}
with

items as (
    select * from {{ ref('stg_items') }}
    -- a tenant kept whole keeps its published item states
    where tenant_id not in {{ kept_tenants() }}
),

restrictions as (
    select * from {{ ref('stg_item_restrictions') }}
),

matches as (
    select * from {{ ref('rule_item_matches') }}
),

item_level as (
    select tenant_id, item_id, country, bool_and(is_allowed) as is_allowed
    from restrictions
    where item_id is not null
    group by tenant_id, item_id, country
),

category_level as (
    select tenant_id, category, country, bool_and(is_allowed) as is_allowed
    from restrictions
    where item_id is null
    group by tenant_id, category, country
),

blocked as (
    select tenant_id, item_id, country from item_level
    where not is_allowed
    union
    select items.tenant_id, items.item_id, category_level.country
    from items
    inner join category_level
        on items.tenant_id = category_level.tenant_id
            and items.category = category_level.category
    where
        not category_level.is_allowed
        and not exists (
            select 1 from item_level
            where
                item_level.tenant_id = items.tenant_id
                and item_level.item_id = items.item_id
                and item_level.country = category_level.country
                and item_level.is_allowed
        )
),

blocked_lists as (
    select tenant_id, item_id, list(country order by country) as blocked_countries
    from blocked
    group by tenant_id, item_id
),

rule_lists as (
    select tenant_id, item_id, list(rule_key order by rule_key) as rule_keys
    from matches
    group by tenant_id, item_id
),

final as (
    select
        items.tenant_id,
        items.item_id,
        items.name,
        items.category,
        items.is_active,
        items.min_age,
        items.sustainability_score,
        coalesce(blocked_lists.blocked_countries, []) as blocked_countries,
        coalesce(rule_lists.rule_keys, []) as rule_keys
    from items
    left join blocked_lists
        on items.tenant_id = blocked_lists.tenant_id
            and items.item_id = blocked_lists.item_id
    left join rule_lists
        on items.tenant_id = rule_lists.tenant_id
            and items.item_id = rule_lists.item_id
)

select * from final
