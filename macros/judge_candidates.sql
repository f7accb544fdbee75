{#- The business rules' verdict on each row of `rows` (a CTE of candidates: tenant_id, shelf,
    customer_id, rule_class, item_id, algorithm, source_order, source_rank, reason,
    because_item_id, score), for list_candidates, whose CTEs `verdicts` (rule_class_verdicts),
    `people` (customer_rule_states), `items` (item_rule_states), `settings` (tenant_settings)
    and `histories` (what each customer interacted with, `is_bought`) it reads. The verdicts
    were made per rule class; what is per customer is whether they bought the item (not on
    discover or new_for_you again) and the sustainability nudge (the recsql_nudge macro). -#}
{% macro judge_candidates(rows) %}
    select
        candidates.*,
        i.category,
        coalesce(
            verdicts.blocked_by,
            case
                when candidates.shelf <> 'buy_again' and bought.is_bought then 'already bought'
            end,
            verdicts.not_included_by
        ) as blocked_by,
        coalesce(verdicts.boost, 1.0) as boost,
        coalesce(verdicts.boosted_by, []) as boosted_by,
        recsql_nudge(c, i, settings.sustainability_nudge) as nudge,
        candidates.score
        * coalesce(verdicts.boost, 1.0)
        * recsql_nudge(c, i, settings.sustainability_nudge) as adjusted_score,
        coalesce(verdicts.caps, []) as caps
    from {{ rows }} as candidates
    -- left joins (every candidate has its states): DuckDB keeps their order, where inner
    -- joins let it join the states first, a product of both per tenant
    left join verdicts
        on candidates.tenant_id = verdicts.tenant_id
            and candidates.rule_class = verdicts.rule_class
            and candidates.item_id = verdicts.item_id
    left join people as c
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
