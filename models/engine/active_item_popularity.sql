{#- One row per served tenant, country (NULL = the tenant) and item: popularity as of its
    version's data (item_popularity's full fold when trained by this build, else stored). -#}
{{ active_form('popularity', ref('trained_item_popularity')) }}
