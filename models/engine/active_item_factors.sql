{#- One row per served tenant and item: the ALS item factors of its version (the tenant's
    own number of factors), trained by this build (als_factors) or stored. Customers' factors
    are folded in from their histories (customer_candidates, and the Python API's real-time
    lists from the published item_factors). -#}
{% call active_form('factors') %}
    select
        factors.tenant_id,
        models.version,
        factors.entity_id as item_id,
        list_slice(factors.factors::float [], 1, settings.als_factors) as factors
    from {{ ref('als_factors') }} as factors
    inner join models on factors.tenant_id = models.tenant_id
    inner join {{ ref('tenant_settings') }} as settings on factors.tenant_id = settings.tenant_id
    where factors.entity = 'item'
{% endcall %}
