{#- One row per tenant, shelf, customer and rank (up to k per list): the lists as served, after
    every business rule (docs/rules.md): the first k allowed candidates of each customer's
    pool in list order (list_candidates) that no category cap removed (list_cap_removals).
    Customers withheld by consent or `nothing` rules have no rows (customer_shelves), nor,
    on discover, those under the tenant's nothing_threshold. `score` is the producing
    algorithm's score after boosts and the nudge. Only the tenants served fresh lists: a held
    tenant keeps its published ones (recommendations, buy_again). -#}
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

final as (
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
)

select * from final
