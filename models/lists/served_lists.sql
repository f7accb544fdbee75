{#- One row per tenant, shelf, customer and rank (up to k per list): the lists as served, after
    every business rule (docs/rules.md): the first k allowed candidates of each customer's
    pool in list order (list_candidates) that no category cap removed (list_cap_removals).
    Customers withheld by consent or `nothing` rules have no rows (customer_shelves), nor,
    on discover, those under the tenant's nothing_threshold. `score` is the producing
    algorithm's score after boosts and the nudge; `reason` is worded here, for the rows served
    only (the explaining item's name). Only the tenants served fresh lists: a held tenant keeps
    its published ones (recommendations, buy_again). -#}
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

items as (
    select tenant_id, item_id, name from {{ ref('item_rule_states') }}
),

histories as (
    select tenant_id, customer_id, item_id, purchase_occasions > 0 as is_bought
    from {{ ref('int_interactions_weighted') }}
    where fold = 'full'
),

removed_lists as (
    -- the lists a category cap removed something from: the few whose ranks are renumbered
    select distinct tenant_id, shelf, customer_id from removals
),

ranked as (
    -- list_position numbers a list's allowed candidates 1, 2, 3...: where no cap removed one,
    -- it is the rank
    select candidates.*, candidates.list_position as rank
    from candidates
    anti join removed_lists
        on candidates.tenant_id = removed_lists.tenant_id
            and candidates.shelf = removed_lists.shelf
            and candidates.customer_id = removed_lists.customer_id
    union all by name
    select
        candidates.*,
        row_number() over (
            partition by candidates.tenant_id, candidates.shelf, candidates.customer_id
            order by candidates.list_position
        ) as rank
    from candidates
    semi join removed_lists
        on candidates.tenant_id = removed_lists.tenant_id
            and candidates.shelf = removed_lists.shelf
            and candidates.customer_id = removed_lists.customer_id
    anti join removals
        on candidates.tenant_id = removals.tenant_id
            and candidates.shelf = removals.shelf
            and candidates.customer_id = removals.customer_id
            and candidates.list_position = removals.list_position
),

served as (
    select ranked.*
    from ranked
    inner join settings on ranked.tenant_id = settings.tenant_id
    where ranked.rank <= settings.k
),

final as (
    select
        served.tenant_id,
        served.shelf,
        served.customer_id,
        served.rank,
        served.item_id,
        served.adjusted_score as score,
        served.algorithm,
        -- a champion's candidate (or a new item) is explained by the history item that speaks
        -- for it
        coalesce(
            served.reason,
            case
                when served.shelf = 'new_for_you' then 'new, like '
                when because_history.is_bought then 'because you bought '
                else 'because you viewed '
            end
            || coalesce(because.name, because.item_id)
        ) as reason,
        {{ model_version('served.tenant_id') }} as model_version,
        {{ build_time() }} as generated_at
    from served
    left join items as because
        on served.tenant_id = because.tenant_id
            and served.because_item_id = because.item_id
    left join histories as because_history
        on served.tenant_id = because_history.tenant_id
            and served.customer_id = because_history.customer_id
            and served.because_item_id = because_history.item_id
)

select * from final
