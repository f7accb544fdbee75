{#- One row per tenant this build trained a version for and item: the version's ALS item factors
    (als_factors; the tenant's own number of factors), what it stores (stored_factors). -#}
{{ config(materialized='view') }}
with

models as (
    select tenant_id, version from {{ ref('trained_versions') }}
),

final as (
    select
        factors.tenant_id,
        models.version,
        factors.entity_id as item_id,
        list_slice(factors.factors::float[], 1, settings.als_factors) as factors
    from {{ ref('als_factors') }} as factors
    inner join models on factors.tenant_id = models.tenant_id
    inner join {{ ref('tenant_settings') }} as settings on factors.tenant_id = settings.tenant_id
    where factors.entity = 'item'
)

select * from final
