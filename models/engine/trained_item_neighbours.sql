{#- One row per tenant this build trained a version for, item and neighbour: what the version
    stores of its neighbours (stored_neighbours) — co-occurrence similarities (item_similarities'
    full fold) and, where its champion is EASE, its largest weights (ease_weights; a blend's
    second variant as 'ease binary'). -#}
{{ config(materialized='view') }}
with

models as (
    select tenant_id, version from {{ ref('trained_versions') }}
),

final as (
    select
        similarities.tenant_id,
        models.version,
        'cooccurrence' as algorithm,
        similarities.item_id,
        similarities.rank,
        similarities.similar_item_id as neighbour_item_id,
        similarities.score as weight,
        similarities.shared_customers
    from {{ ref('item_similarities') }} as similarities
    inner join models on similarities.tenant_id = models.tenant_id
    where similarities.fold = 'full'
    union all
    select
        weights.tenant_id,
        models.version,
        weights.algorithm,
        weights.item_id,
        weights.rank,
        weights.neighbour_item_id,
        weights.weight,
        null::bigint as shared_customers
    from {{ ref('ease_weights') }} as weights
    inner join models on weights.tenant_id = models.tenant_id
)

select * from final
