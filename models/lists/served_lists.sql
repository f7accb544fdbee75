{#- One row per tenant, shelf, customer and rank (up to k per list): the lists as served, after
    every business rule (docs/rules.md): the first k allowed candidates of each customer's
    pool in list order (list_candidates) that no category cap removed (list_cap_removals).
    Customers withheld by consent or `nothing` rules have no rows (customer_shelves), nor,
    on discover, those under the tenant's nothing_threshold. `score` is the producing
    algorithm's score after boosts and the nudge.
    A tenant the build holds (tenant_plans' action hold: failed, or left out by --tenants)
    keeps its published lists (previous_rows) minus the rows today's rules forbid - a customer
    erased, withheld the shelf (consents, `nothing` rules) or no longer personalized (then
    only popularity and trending rows stay on discover), an item no longer active, or one the
    customer's rule class may not be shown (geo, age, exclude and include_only rules:
    rule_class_verdicts) - in their order, renumbered, with no refill. -#}
with

candidates as (
    select * from {{ ref('list_candidates') }}
    where list_position is not null and not is_below_threshold
),

removals as (
    select * from {{ ref('list_cap_removals') }}
),

settings as (
    select tenant_id, k from {{ ref('tenant_settings') }}
),

ranked as (
    select
        candidates.*,
        row_number() over (
            partition by candidates.tenant_id, candidates.shelf, candidates.customer_id
            order by candidates.list_position
        ) as rank
    from candidates
    anti join removals
        on candidates.tenant_id = removals.tenant_id
            and candidates.shelf = removals.shelf
            and candidates.customer_id = removals.customer_id
            and candidates.list_position = removals.list_position
),

fresh as (
    select
        ranked.tenant_id,
        ranked.shelf,
        ranked.customer_id,
        ranked.rank,
        ranked.item_id,
        ranked.adjusted_score as score,
        ranked.algorithm,
        ranked.reason,
        {{ model_version('ranked.tenant_id') }} as model_version,
        {{ build_time() }} as generated_at
    from ranked
    inner join settings on ranked.tenant_id = settings.tenant_id
    where ranked.rank <= settings.k
),

{%- set columns = [
    'tenant_id', 'customer_id', 'rank', 'item_id', 'score', 'algorithm', 'reason',
    'model_version', 'generated_at'
] %}

previous as (
    select *, 'discover' as shelf
    from ({{ previous_rows('recommendations', columns, 'fresh') }})
    union all by name
    select *, 'buy_again' as shelf
    from ({{ previous_rows('buy_again', columns, 'fresh') }})
),

carried as (
    select
        previous.tenant_id,
        previous.shelf,
        previous.customer_id,
        row_number() over (
            partition by previous.tenant_id, previous.shelf, previous.customer_id
            order by previous.rank
        ) as rank,
        previous.item_id,
        previous.score,
        previous.algorithm,
        previous.reason,
        previous.model_version,
        previous.generated_at
    from previous
    inner join {{ ref('customer_shelves') }} as shelves
        on previous.tenant_id = shelves.tenant_id
            and previous.customer_id = shelves.customer_id
            and previous.shelf = shelves.shelf
    inner join {{ ref('customer_rule_states') }} as people
        on previous.tenant_id = people.tenant_id
            and previous.customer_id = people.customer_id
            and not people.is_visitor
    inner join {{ ref('item_rule_states') }} as items
        on previous.tenant_id = items.tenant_id and previous.item_id = items.item_id
    left join {{ ref('rule_class_verdicts') }} as verdicts
        on previous.tenant_id = verdicts.tenant_id
            and people.rule_class = verdicts.rule_class
            and previous.item_id = verdicts.item_id
    where
        shelves.withheld_by is null
        and (
            previous.shelf = 'buy_again'
            or shelves.is_personalized
            or previous.algorithm in ('popularity', 'trending')
        )
        and items.is_active
        and verdicts.blocked_by is null
        and verdicts.not_included_by is null
),

final as (
    select * from fresh
    union all by name
    select * from carried
)

select * from final
