{#- Per tenant, shelf and customer of `rows` (a CTE of judged candidates: blocked_by, category,
    caps), how many of the allowed rows a walk of the category caps keeps at least, whatever
    their order: every row no cap counts, and per category as many counted rows as the
    smallest cap counting any of them allows. (While fewer rows of a category are kept than
    its smallest cap, every cap counting that category has room.) list_candidates uses it to
    decide whether a customer's list can need the next source. -#}
{% macro kept_at_least(rows) %}
    select tenant_id, shelf, customer_id, sum(kept) as kept
    from (
        select
            tenant_id,
            shelf,
            customer_id,
            count(*) filter (where len(caps) = 0)
            + least(
                count(*) filter (where len(caps) > 0),
                coalesce(min(list_min(list_transform(caps, lambda cap: cap.cap))), 0)  -- noqa: RF01
            ) as kept
        from {{ rows }}
        where blocked_by is null
        group by tenant_id, shelf, customer_id, category
    ) as per_category
    group by tenant_id, shelf, customer_id
{% endmacro %}
