{#- One row per tenant, visitor (customer_rule_states rows with is_visitor: one per country and
    one for an unknown country, `country` NULL) and item the business rules let that visitor be
    shown: what the build decided for visitors, so that the published macros that list items
    for someone unknown (recommend_for_items, popular) join this table instead of evaluating
    the rules per request. `factor`: boosts x sustainability nudge; `caps`: the visitor's cap
    rules that count the item. A visitor matched by a `nothing` rule has no rows. Visitors x
    items stays small: a few visitor states per tenant. -#}
with

visitors as (
    select * from {{ ref('customer_rule_states') }}
    where is_visitor and nothing_rule is null
),

items as (
    select * from {{ ref('item_rule_states') }}
),

settings as (
    select tenant_id, sustainability_nudge from {{ ref('tenant_settings') }}
),

final as (
    select
        v.tenant_id,
        v.country,
        i.item_id,
        i.category,
        recsql_boost(v, i) * recsql_nudge(v, i, settings.sustainability_nudge) as factor,
        list_filter(v.caps, lambda cap: list_contains(i.rule_keys, cap.rule_key))  -- noqa: RF01
            as caps
    from visitors as v
    inner join items as i on v.tenant_id = i.tenant_id
    inner join settings on v.tenant_id = settings.tenant_id
    where recsql_blocked_by(v, i) is null and recsql_not_included_by(v, i) is null
)

select * from final
