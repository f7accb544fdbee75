{#- One row per tenant this build trained a version for and trending item: the version's trends
    (item_trends' full fold), what it stores (stored_trends). -#}
{{ config(materialized='view') }}
with

models as (
    select tenant_id, version from {{ ref('trained_versions') }}
),

final as (
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
)

select * from final
