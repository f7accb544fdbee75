{#- One row per served tenant, country (NULL = the tenant) and item: popularity as of its
    version's data (item_popularity's full fold when trained by this build, else stored). -#}
{% call active_form('popularity') %}
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
{% endcall %}
