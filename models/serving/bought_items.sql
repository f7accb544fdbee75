{#- One row per tenant, customer and item they bought (not erased; guests' purchases are not
    here): what the published file keeps so that a list made at query time never offers what
    the customer bought (recsql/serving and the macros). A tenant carried before its
    interactions were staged (stg_carried_tenants) keeps its published rows: its
    purchases and erasure requests are those they were made from (read here unless it is
    kept whole: the publication keeps them then). -#}
with

fresh as (
    select distinct tenant_id, customer_id, item_id
    from {{ ref('int_interactions_retained') }}
    where event_type = 'purchase' and customer_id is not null
),

unstaged as (
    select *
    from (
        {{ published_rows(
            'bought_items', ['tenant_id', 'customer_id', 'item_id'], 'fresh', unstaged_tenants()
        ) }}
    )
    where tenant_id not in {{ kept_tenants() }}
),

final as (
    select * from fresh
    union all
    select * from unstaged
)

select * from final
