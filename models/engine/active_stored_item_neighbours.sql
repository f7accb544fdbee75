{#- One row per tenant served by a stored version (not one this build trained), item and
    neighbour: that version's rows of the state's stored_neighbours, read from the state once
    (active_item_neighbours adds the versions trained tonight). -#}
{{ stored_rows('neighbours') }}
