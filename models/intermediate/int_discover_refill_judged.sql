{#- One row per tenant, customer and refill item, for customers whose discover list is still
    short of k after rules and caps: every other item of the tenant, most popular first, judged
    by the same rules (blocked, already bought, include_only) and caps (counting what the list
    already holds). With these, every served customer gets k items whenever k allowed items
    exist. -#}
with

lists as (
    select * from {{ ref('int_lists_capped') }}
    where shelf = 'discover'
),

shelf_customers as (
    select * from {{ ref('int_shelf_customers_decided') }}
    where shelf = 'discover' and withheld_by is null
),

settings as (
    select tenant_id, k, sustainability_nudge from {{ ref('tenant_settings') }}
),

customers as (
    select * from {{ ref('customer_rule_states') }}
),

items as (
    select * from {{ ref('item_rule_states') }}
),

popularity as (
    select * from {{ ref('item_popularity') }}
    where fold = 'full' and country is null
),

considered as (
    select tenant_id, customer_id, item_id from {{ ref('int_candidates_judged') }}
    where shelf = 'discover'
),

bought as (
    select tenant_id, customer_id, item_id from {{ ref('int_interactions_weighted') }}
    where fold = 'full' and purchase_occasions > 0
),

kept as (
    select tenant_id, customer_id, count(*) as items_kept
    from lists
    where capped_by is null
    group by tenant_id, customer_id
),

short as materialized (
    select shelf_customers.tenant_id, shelf_customers.customer_id
    from shelf_customers
    inner join settings on shelf_customers.tenant_id = settings.tenant_id
    left join kept
        on shelf_customers.tenant_id = kept.tenant_id
            and shelf_customers.customer_id = kept.customer_id
    where coalesce(kept.items_kept, 0) < settings.k
),

candidates as (
    select
        short.tenant_id,
        short.customer_id,
        i.item_id,
        i.category,
        coalesce(popularity.score, 0) as score,
        recsql_boost(c, i) * recsql_nudge(c, i, settings.sustainability_nudge) as adjustment,
        list_filter(
            c.caps, lambda cap: list_contains(i.rule_keys, cap.rule_key)  -- noqa: RF01
        ) as caps,
        coalesce(
            recsql_blocked_by(c, i),
            case when bought.item_id is not null then 'already bought' end,
            recsql_not_included_by(c, i)
        ) as blocked_by
    from short
    inner join customers as c
        on short.tenant_id = c.tenant_id
            and short.customer_id = c.customer_id
    inner join items as i on short.tenant_id = i.tenant_id
    inner join settings on short.tenant_id = settings.tenant_id
    left join popularity
        on i.tenant_id = popularity.tenant_id
            and i.item_id = popularity.item_id
    left join bought
        on short.tenant_id = bought.tenant_id
            and short.customer_id = bought.customer_id
            and i.item_id = bought.item_id
    anti join considered
        on short.tenant_id = considered.tenant_id
            and short.customer_id = considered.customer_id
            and i.item_id = considered.item_id
),

allowed as (
    select
        *,
        row_number() over (
            partition by tenant_id, customer_id
            order by score * adjustment desc, item_id asc
        ) as refill_position
    from candidates
    where blocked_by is null
),

already_counted as (
    select
        lists.tenant_id,
        lists.customer_id,
        counted.cap.rule_key,
        lists.category,
        count(*) as items
    from lists
    cross join unnest(lists.caps) as counted (cap)
    where lists.capped_by is null and lists.category is not null
    group by all
),

cap_positions as (
    select
        allowed.tenant_id,
        allowed.customer_id,
        allowed.item_id,
        counted.cap.rule_key,
        counted.cap.cap,
        coalesce(already_counted.items, 0)
        + row_number() over (
            partition by
                allowed.tenant_id, allowed.customer_id, counted.cap.rule_key, allowed.category
            order by allowed.refill_position
        ) as category_position
    from allowed
    cross join unnest(allowed.caps) as counted (cap)
    left join already_counted
        on allowed.tenant_id = already_counted.tenant_id
            and allowed.customer_id = already_counted.customer_id
            and counted.cap.rule_key = already_counted.rule_key
            and allowed.category = already_counted.category
    where allowed.category is not null
),

capped as (
    select tenant_id, customer_id, item_id
    from cap_positions
    where category_position > cap
),

final as (
    select
        allowed.tenant_id,
        allowed.customer_id,
        allowed.item_id,
        allowed.score * allowed.adjustment as adjusted_score,
        allowed.refill_position
    from allowed
    anti join capped
        on allowed.tenant_id = capped.tenant_id
            and allowed.customer_id = capped.customer_id
            and allowed.item_id = capped.item_id
)

select * from final
