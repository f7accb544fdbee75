{#- One row per tenant this build trained a version for, country (NULL = the tenant) and item: the
    version's popularity (item_popularity's full fold), what it stores (stored_popularity). -#}
{{ config(materialized='view') }}
with

models as (
    select tenant_id, version from {{ ref('trained_versions') }}
),

final as (
    select
        popularity.tenant_id,
        models.version,
        popularity.country,
        popularity.item_id,
        popularity.score,
        popularity.buyers,
        popularity.popularity_rank
    from {{ ref('item_popularity') }} as popularity
    inner join models on popularity.tenant_id = models.tenant_id
    where popularity.fold = 'full'
)

select * from final
