{#- The business rules' verdict on each row of `rows` (a CTE of candidates: tenant_id, shelf,
    customer_id, item_id, algorithm, source_order, source_rank, reason, because_item_id,
    score), for int_candidates_judged, whose CTEs `customers` (customer_rule_states), `items`
    (item_rule_states), `settings` (tenant_settings) and `histories` (what each customer
    interacted with, `is_bought`) it reads. -#}
{% macro judge_candidates(rows) %}
    select
        candidates.tenant_id,
        candidates.shelf,
        candidates.customer_id,
        candidates.item_id,
        candidates.algorithm,
        candidates.source_order,
        candidates.source_rank,
        candidates.reason,
        candidates.because_item_id,
        candidates.score,
        i.category,
        coalesce(
            recsql_blocked_by(c, i),
            case
                when candidates.shelf = 'discover' and bought.is_bought then 'already bought'
            end,
            recsql_not_included_by(c, i)
        ) as blocked_by,
        recsql_boost(c, i) as boost,
        list_transform(
            list_filter(c.boosts, lambda b: list_contains(i.rule_keys, b.rule_key)),  -- noqa: RF01
            lambda b: b.rule_key  -- noqa: RF01
        ) as boosted_by,
        recsql_nudge(c, i, settings.sustainability_nudge) as nudge,
        candidates.score * recsql_boost(c, i) * recsql_nudge(c, i, settings.sustainability_nudge)
            as adjusted_score,
        list_filter(
            c.caps, lambda cap: list_contains(i.rule_keys, cap.rule_key)  -- noqa: RF01
        ) as caps
    from {{ rows }} as candidates
    -- left joins (every candidate has both states): DuckDB keeps their order, where inner
    -- joins let it join the customer and item states first, a product of both per tenant
    left join customers as c
        on candidates.tenant_id = c.tenant_id
            and candidates.customer_id = c.customer_id
    left join items as i
        on candidates.tenant_id = i.tenant_id
            and candidates.item_id = i.item_id
    left join settings on candidates.tenant_id = settings.tenant_id
    left join histories as bought
        on candidates.tenant_id = bought.tenant_id
            and candidates.customer_id = bought.customer_id
            and candidates.item_id = bought.item_id
{% endmacro %}
