{#- One row per served tenant and item: the ALS item factors of its version (the tenant's
    own number of factors), trained by this build (als_factors) or stored. Customers' factors
    are folded in from their histories (customer_candidates, and the Python API's real-time
    lists from the published item_factors). -#}
{{ active_form('factors', ref('trained_item_factors')) }}
