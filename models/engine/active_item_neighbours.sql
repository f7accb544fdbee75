{#- One row per served tenant, item and neighbour in its version's stored model:
    co-occurrence similarities (every version: the similar-items list, and what co-occurrence
    candidates are scored with) and, where the version's champion is EASE, its largest weights
    (ease_weights). Trained by this build (item_similarities' full fold) or stored. -#}
{{ active_form('neighbours', ref('trained_item_neighbours')) }}
