{#- One row per tenant, shelf, customer and allowed candidate (not blocked), in list order:
    source first (the champion's candidates, then popular in the country, trending, popular),
    then the score adjusted by boosts and the nudge. `is_below_threshold`: the customer's best
    personalized candidate scores under the tenant's nothing_threshold (discover only). Caps
    are applied next, in int_lists_capped. -#}
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

best as (
    select tenant_id, shelf, customer_id, max(adjusted_score) as best_score
    from judged
    where shelf = 'discover' and source_order = 1
    group by tenant_id, shelf, customer_id
),

final as (
    select
        ordered.*,
        coalesce(best.best_score < settings.nothing_threshold, false) as is_below_threshold
    from ordered
    inner join settings on ordered.tenant_id = settings.tenant_id
    left join best
        on ordered.tenant_id = best.tenant_id
            and ordered.shelf = best.shelf
            and ordered.customer_id = best.customer_id
)

select * from final
