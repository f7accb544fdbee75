{#- Compliance: an inactive item (history only) appears in no customer-facing list. -#}
with

offers as (
    select 'recommendations' as list, tenant_id, item_id from {{ ref('recommendations') }}
    union all
    select 'buy_again' as list, tenant_id, item_id from {{ ref('buy_again') }}
    union all
    select 'popular_items' as list, tenant_id, item_id from {{ ref('popular_items') }}
    union all
    select 'trending_items' as list, tenant_id, item_id from {{ ref('trending_items') }}
    union all
    select 'similar_items' as list, tenant_id, similar_item_id as item_id
    from {{ ref('similar_items') }}
)

select offers.*
from offers
inner join {{ ref('stg_items') }} as items using (tenant_id, item_id)
where not items.is_active
