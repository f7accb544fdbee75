{#- One row per served tenant, item and neighbour in its version's stored model:
    co-occurrence similarities (every version: the similar-items list, and what co-occurrence
    candidates are scored with) and, where the version's champion is EASE, its largest weights
    (ease_weights). Trained by this build (item_similarities' full fold) or stored
    (active_stored_item_neighbours).

    A view: the trained rows are read where they are used (customer_candidates, similar_items,
    cooccurrence_candidates) rather than copied - tens of millions of EASE weights for thousands
    of tenants (17 s of a 4,000-tenant build went to the copy; reading them through the view
    costs a tenth of it). -#}
{{ config(materialized='view') }}
{{ active_form(
    'neighbours',
    ref('trained_item_neighbours'),
    stored=ref('active_stored_item_neighbours'),
) }}
