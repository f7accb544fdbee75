{#- One row per tenant, country (every country with a visitor state or a popular list, and NULL
    for an unknown one) and rank: what the published popular(tenant_id, country, k) macro
    returns - and recommend() for a customer the tenant does not know - made by the build so
    that a request is a lookup. The country's popular list
    (popular_items; the tenant's list where the country has none) judged by the business rules
    for a visitor from there (the verdicts of the visitor's rule class, rule_class_verdicts;
    the unknown visitor where the country has no visitor state): items the rules forbid go,
    boosts scale the score (a visitor has no purchases for the sustainability nudge to compare
    with), a `nothing` rule empties the list; a category cap counts every allowed item ranked
    before an item (as the recommend_for_items macro does). A tenant the build holds keeps its
    published rows (previous_rows) that the verdicts of today's visitor state still allow (the
    unknown visitor's where the country has none), renumbered. -#}
with

lists as (
    select * from {{ ref('popular_items') }}
    where tenant_id not in {{ held_tenants() }}
),

states as (
    select tenant_id, country, nothing_rule, rule_class from {{ ref('customer_rule_states') }}
    where is_visitor
),

exceptions as (
    select * from {{ ref('rule_class_verdicts') }}
),

asked as (
    select tenant_id, country from states
    union
    select tenant_id, country from lists
),

list_countries as (
    select distinct tenant_id, country from lists
    where country is not null
),

resolved as (
    -- the visitor state and the list each country is served from
    select
        asked.tenant_id,
        asked.country,
        own_state.country is not null as has_state,
        own_list.country is not null as has_list
    from asked
    left join states as own_state
        on asked.tenant_id = own_state.tenant_id and asked.country = own_state.country
    left join list_countries as own_list
        on asked.tenant_id = own_list.tenant_id and asked.country = own_list.country
),

candidates as (
    select
        resolved.tenant_id,
        resolved.country,
        lists.item_id,
        lists.score,
        case when resolved.has_list then 'popular in ' || resolved.country else 'popular' end
            as reason,
        case when resolved.has_state then resolved.country end as state_country
    from resolved
    inner join lists
        on resolved.tenant_id = lists.tenant_id
            and lists.country is not distinct from (
                case when resolved.has_list then resolved.country end
            )
),

judged as (
    select
        candidates.tenant_id,
        candidates.country,
        candidates.item_id,
        candidates.reason,
        exceptions.category,
        candidates.score * coalesce(exceptions.boost, 1.0) as score,
        coalesce(exceptions.caps, []) as caps,
        row_number() over (
            partition by candidates.tenant_id, candidates.country
            order by candidates.score * coalesce(exceptions.boost, 1.0) desc, candidates.item_id
        ) as position
    from candidates
    inner join states
        on candidates.tenant_id = states.tenant_id
            and candidates.state_country is not distinct from states.country
    left join exceptions
        on candidates.tenant_id = exceptions.tenant_id
            and states.rule_class = exceptions.rule_class
            and candidates.item_id = exceptions.item_id
    where
        states.nothing_rule is null
        and exceptions.blocked_by is null
        and exceptions.not_included_by is null
),

counted as (
    -- each capped item once per cap counting it
    select
        judged.tenant_id,
        judged.country,
        judged.item_id,
        judged.category,
        judged.position,
        unnest(judged.caps) as cap
    from judged
    where judged.category is not null and len(judged.caps) > 0
),

over_cap as (
    select counted.tenant_id, counted.country, counted.item_id
    from counted
    qualify row_number() over (
            partition by
                counted.tenant_id, counted.country, counted.cap.rule_key, counted.category
            order by counted.position
        ) > counted.cap.cap
),

fresh as (
    select
        judged.tenant_id,
        judged.country,
        row_number() over (
            partition by judged.tenant_id, judged.country order by judged.position
        ) as rank,
        judged.item_id,
        judged.score,
        judged.reason,
        {{ model_version('judged.tenant_id') }} as model_version,
        {{ build_time() }} as generated_at
    from judged
    anti join over_cap
        on judged.tenant_id = over_cap.tenant_id
            and judged.country is not distinct from over_cap.country
            and judged.item_id = over_cap.item_id
),

{%- set columns = [
    'tenant_id', 'country', 'rank', 'item_id', 'score', 'reason', 'model_version', 'generated_at'
] %}

carried as (
    select
        previous.tenant_id,
        previous.country,
        row_number() over (
            partition by previous.tenant_id, previous.country order by previous.rank
        ) as rank,
        previous.item_id,
        previous.score,
        previous.reason,
        previous.model_version,
        previous.generated_at
    from ({{ previous_rows('visitor_popular_items', columns, 'fresh') }}) as previous
    -- the visitor state of the country, else the unknown visitor's
    inner join states
        on previous.tenant_id = states.tenant_id
            and states.country is not distinct from (
                select max(own.country) from states as own
                where own.tenant_id = previous.tenant_id and own.country = previous.country
            )
    left join exceptions
        on previous.tenant_id = exceptions.tenant_id
            and states.rule_class = exceptions.rule_class
            and previous.item_id = exceptions.item_id
    semi join {{ ref('item_rule_states') }} as items
        on previous.tenant_id = items.tenant_id
            and previous.item_id = items.item_id
            and items.is_active
    where
        states.nothing_rule is null
        and exceptions.blocked_by is null
        and exceptions.not_included_by is null
),

final as (
    select * from fresh
    union all by name
    select * from carried
)

select * from final
