{#- One row per tenant, shelf, customer and allowed candidate (not blocked), in list order:
    source first (the champion's candidates, then popular in the country, trending, popular),
    then the score adjusted by boosts and the nudge. `capped_by` names the cap rule the item is
    over (at most `cap` items of one category among the items the rule counts, in list order;
    items without a category are never capped). `is_below_threshold`: the customer's best
    personalized candidate scores under the tenant's nothing_threshold (discover only). -#}
with

judged as (
    select * from {{ ref('int_candidates_judged') }}
    where blocked_by is null
),

settings as (
    select tenant_id, nothing_threshold from {{ ref('tenant_settings') }}
),

ordered as (
    select
        *,
        row_number() over (
            partition by tenant_id, shelf, customer_id
            order by source_order asc, adjusted_score desc, source_rank asc, item_id asc
        ) as list_position
    from judged
),

cap_positions as (
    select
        ordered.tenant_id,
        ordered.shelf,
        ordered.customer_id,
        ordered.item_id,
        counted.cap.rule_key,
        counted.cap.cap,
        row_number() over (
            partition by
                ordered.tenant_id,
                ordered.shelf,
                ordered.customer_id,
                counted.cap.rule_key,
                ordered.category
            order by ordered.list_position
        ) as category_position
    from ordered
    cross join unnest(ordered.caps) as counted (cap)
    where ordered.category is not null
),

capped as (
    select tenant_id, shelf, customer_id, item_id, 'rule ' || min(rule_key) as capped_by
    from cap_positions
    where category_position > cap
    group by tenant_id, shelf, customer_id, item_id
),

final as (
    select
        ordered.*,
        capped.capped_by,
        ordered.shelf = 'discover'
        and coalesce(
            max(ordered.adjusted_score) filter (where ordered.source_order = 1) over (
                partition by ordered.tenant_id, ordered.shelf, ordered.customer_id
            ) < settings.nothing_threshold,
            false
        ) as is_below_threshold
    from ordered
    inner join settings on ordered.tenant_id = settings.tenant_id
    left join capped
        on ordered.tenant_id = capped.tenant_id
            and ordered.shelf = capped.shelf
            and ordered.customer_id = capped.customer_id
            and ordered.item_id = capped.item_id
)

select * from final
