{{ config(materialized='view') }}
{#- int_lists_ordered with the cap rule that removed each candidate (`capped_by`; NULL =
    kept): caps walk each list in order, counting only the items kept (int_cap_removals). -#}
with

ordered as (
    select * from {{ ref('int_lists_ordered') }}
),

removals as (
    select * from {{ ref('int_cap_removals') }}
),

final as (
    select
        ordered.*,
        removals.capped_by
    from ordered
    left join removals
        on ordered.tenant_id = removals.tenant_id
            and ordered.shelf = removals.shelf
            and ordered.customer_id = removals.customer_id
            and ordered.list_position = removals.list_position
)

select * from final
