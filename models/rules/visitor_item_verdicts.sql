{#- One row per tenant, visitor (customer_rule_states rows with is_visitor: one per country and
    one for an unknown country, `country` NULL) and item the business rules say something about
    for that visitor: what the build decided for visitors, so that the published macros that
    list items for someone unknown (recommend_for_items, popular) join this table instead of
    evaluating the rules per request. `blocked_by`: the rule that forbids the item (or NULL);
    `factor`: boosts x sustainability nudge; `caps`: the visitor's cap rules that count it.
    Items the rules leave alone for a visitor (allowed, factor 1, no cap) have no row: most
    items, so a request reads only the exceptions. (A visitor matched by a `nothing` rule gets
    no list at all: visitor_rule_states.) -#}
with

visitors as (
    select * from {{ ref('customer_rule_states') }}
    where is_visitor
),

items as (
    select * from {{ ref('item_rule_states') }}
),

settings as (
    select tenant_id, sustainability_nudge from {{ ref('tenant_settings') }}
),

verdicts as (
    select
        v.tenant_id,
        v.country,
        i.item_id,
        i.category,
        coalesce(recsql_blocked_by(v, i), recsql_not_included_by(v, i)) as blocked_by,
        recsql_boost(v, i) * recsql_nudge(v, i, settings.sustainability_nudge) as factor,
        list_filter(v.caps, lambda cap: list_contains(i.rule_keys, cap.rule_key))  -- noqa: RF01
            as caps
    from visitors as v
    inner join items as i on v.tenant_id = i.tenant_id
    inner join settings on v.tenant_id = settings.tenant_id
),

final as (
    select * from verdicts
    where blocked_by is not null or factor <> 1 or len(caps) > 0
)

select * from final
