{#- One row per served tenant and trending item, as of its version's data (item_trends' full
    fold when trained by this build, else stored). -#}
{% call active_form('trends') %}
    select
        trends.tenant_id,
        models.version,
        trends.item_id,
        trends.recent_buyers,
        trends.baseline_buyers,
        trends.score,
        trends.trending_rank
    from {{ ref('item_trends') }} as trends
    inner join models on trends.tenant_id = models.tenant_id
    where trends.fold = 'full'
{% endcall %}
