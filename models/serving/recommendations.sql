{#- One row per tenant, customer and rank (k per customer, or none): the "discover" list, a
    push list of items the customer has not bought, after every business rule
    (docs/rules.md): the allowed candidates in list order (int_lists_capped), then, if still
    short, the refill of allowed popular items (int_discover_refill_capped). Customers withheld
    by consent or `nothing` rules have no rows (int_shelf_customers_decided), nor those under
    the tenant's nothing_threshold. `score` is the producing algorithm's score after boosts. -#}
with

lists as (
    select * from {{ ref('int_lists_capped') }}
    where shelf = 'discover' and capped_by is null
),

below_threshold as (
    select distinct tenant_id, customer_id from lists
    where is_below_threshold
),

refill as (
    select * from {{ ref('int_discover_refill_capped') }}
),

settings as (
    select tenant_id, k from {{ ref('tenant_settings') }}
),

combined as (
    select
        tenant_id,
        customer_id,
        item_id,
        adjusted_score as score,
        algorithm,
        reason,
        1 as stage,
        list_position as position
    from lists
    union all
    select
        tenant_id,
        customer_id,
        item_id,
        adjusted_score as score,
        'popularity' as algorithm,
        'popular' as reason,
        2 as stage,
        position
    from refill
),

ranked as (
    select
        combined.*,
        row_number() over (
            partition by combined.tenant_id, combined.customer_id
            order by combined.stage, combined.position
        ) as rank
    from combined
    anti join below_threshold
        on combined.tenant_id = below_threshold.tenant_id
            and combined.customer_id = below_threshold.customer_id
),

final as (
    select
        ranked.tenant_id,
        ranked.customer_id,
        ranked.rank,
        ranked.item_id,
        ranked.score,
        ranked.algorithm,
        ranked.reason,
        {{ model_version() }} as model_version,
        {{ build_time() }} as generated_at
    from ranked
    inner join settings on ranked.tenant_id = settings.tenant_id
    where ranked.rank <= settings.k
)

select * from final
