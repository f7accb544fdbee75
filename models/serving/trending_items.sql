{#- One row per tenant and rank: active items whose buyers grew lately (trending_items). A
    tenant the build holds keeps its published rows (previous_rows) of items still active. -#}
with

trending as (
    select * from {{ ref('active_item_trends') }}
),

items as (
    select tenant_id, item_id from {{ ref('stg_items') }}
    where is_active
),

settings as (
    select tenant_id, candidates_n from {{ ref('tenant_settings') }}
    -- the tenants served fresh lists (a held one keeps its published rows: carried)
    where mode <> 'off' and tenant_id not in {{ held_tenants() }}
),

active as (
    select
        trending.tenant_id,
        trending.item_id,
        trending.score,
        row_number() over (
            partition by trending.tenant_id order by trending.trending_rank
        ) as rank
    from trending
    semi join items
        on trending.tenant_id = items.tenant_id and trending.item_id = items.item_id
),

fresh as (
    select active.tenant_id, active.rank, active.item_id, active.score
    from active
    inner join settings on active.tenant_id = settings.tenant_id
    where active.rank <= settings.candidates_n
),

carried as (
    select
        previous.tenant_id,
        row_number() over (partition by previous.tenant_id order by previous.rank) as rank,
        previous.item_id,
        previous.score
    from (
        {{ previous_rows('trending_items', ['tenant_id', 'rank', 'item_id', 'score'], 'fresh') }}
    ) as previous
    semi join items
        on previous.tenant_id = items.tenant_id and previous.item_id = items.item_id
),

final as (
    select * from fresh
    union all
    select * from carried
)

select * from final
