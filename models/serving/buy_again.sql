{#- One row per tenant, customer and rank (up to k): items the customer bought, most likely to
    be bought again soon first (repurchase_scores), after every business rule (docs/rules.md):
    nothing here for a customer without personalization consent or matched by a `nothing`
    rule. The reason gives the customer's rhythm where there is one. -#}
with

lists as (
    select * from {{ ref('int_lists_capped') }}
    where shelf = 'buy_again' and capped_by is null
),

settings as (
    select tenant_id, k from {{ ref('tenant_settings') }}
),

ranked as (
    select
        lists.*,
        row_number() over (
            partition by lists.tenant_id, lists.customer_id order by lists.list_position
        ) as rank
    from lists
),

final as (
    select
        ranked.tenant_id,
        ranked.customer_id,
        ranked.rank,
        ranked.item_id,
        ranked.adjusted_score as score,
        ranked.algorithm,
        ranked.reason,
        {{ model_version() }} as model_version,
        {{ build_time() }} as generated_at
    from ranked
    inner join settings on ranked.tenant_id = settings.tenant_id
    where ranked.rank <= settings.k
)

select * from final
