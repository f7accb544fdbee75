{#- For each customer whose discover list is still short of k after rules and caps: the items
    the list already holds (`is_held`), then every other item of the tenant, most popular
    first, judged by the same rules (blocked, already bought, include_only); in list order, for
    int_discover_refill_capped to apply the caps. With these, every served customer gets k
    items whenever k allowed items exist that a fill in this order can take. -#}
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

held as (
    select
        lists.tenant_id,
        lists.customer_id,
        lists.item_id,
        lists.category,
        lists.caps,
        lists.adjusted_score,
        true as is_held,
        0 as stage,
        lists.list_position as position
    from lists
    semi join short
        on lists.tenant_id = short.tenant_id
            and lists.customer_id = short.customer_id
    where lists.capped_by is null
),

candidates as (
    select
        short.tenant_id,
        short.customer_id,
        i.item_id,
        i.category,
        list_filter(
            c.caps, lambda cap: list_contains(i.rule_keys, cap.rule_key)  -- noqa: RF01
        ) as caps,
        coalesce(popularity.score, 0)
        * recsql_boost(c, i)
        * recsql_nudge(c, i, settings.sustainability_nudge) as adjusted_score,
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

refill as (
    select
        tenant_id,
        customer_id,
        item_id,
        category,
        caps,
        adjusted_score,
        false as is_held,
        1 as stage,
        row_number() over (
            partition by tenant_id, customer_id order by adjusted_score desc, item_id asc
        ) as position
    from candidates
    where blocked_by is null
),

final as (
    select
        *,
        row_number() over (
            partition by tenant_id, customer_id order by stage, position
        ) as list_position
    from (
        select * from held
        union all
        select * from refill
    ) as combined
)

select * from final
