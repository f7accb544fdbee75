{#- Compliance: an inactive item (history only) appears in no customer-facing list
    (macros/compliance.sql for the customers' lists). -#}
with

offers as (
    select 'popular_items' as list, tenant_id, item_id from {{ ref('popular_items') }}
    union all
    select 'trending_items' as list, tenant_id, item_id from {{ ref('trending_items') }}
    union all
    select 'similar_items' as list, tenant_id, similar_item_id as item_id
    from {{ ref('similar_items') }}
)

select list, tenant_id, item_id
from ({{ inactive_item_rows(customer_lists()) }})
union all
select offers.list, offers.tenant_id, offers.item_id
from offers
inner join {{ ref('stg_items') }} as items
    on offers.tenant_id = items.tenant_id and offers.item_id = items.item_id
where not items.is_active
