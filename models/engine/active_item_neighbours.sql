{#- One row per served tenant, item and neighbour in its version's stored model:
    co-occurrence similarities (every version: the similar-items list, and what co-occurrence
    candidates are scored with) and, where the version's champion is EASE, its largest weights
    (ease_weights). Trained by this build (item_similarities' full fold) or stored. -#}
{% call active_form('neighbours') %}
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
        'ease' as algorithm,
        weights.item_id,
        weights.rank,
        weights.neighbour_item_id,
        weights.weight,
        null::bigint as shared_customers
    from {{ ref('ease_weights') }} as weights
    inner join models on weights.tenant_id = models.tenant_id
{% endcall %}
