{#- One row per served tenant and trending item, as of its version's data (item_trends' full
    fold when trained by this build, else stored). -#}
{{ active_form('trends', ref('trained_item_trends')) }}
