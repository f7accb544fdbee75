{#- One row per tenant, item and rank: the active items most often bought by the same customers
    (the co-occurrence similarities of the tenant's active version: item_similarities on the
    full history of its training, the tenant's similarity measure). A tenant the build holds
    keeps its published rows (previous_rows) whose similar item is still active. -#}
with

similarities as (
    select tenant_id, item_id, rank, neighbour_item_id as similar_item_id, weight as score
    from {{ ref('active_item_neighbours') }}
    where algorithm = 'cooccurrence'
),

items as (
    select tenant_id, item_id from {{ ref('stg_items') }}
    where is_active
),

settings as (
    select tenant_id from {{ ref('tenant_settings') }}
    -- the tenants served fresh lists (a held one keeps its published rows: carried)
    where mode <> 'off' and tenant_id not in {{ held_tenants() }}
),

fresh as (
    select
        similarities.tenant_id,
        similarities.item_id,
        row_number() over (
            partition by similarities.tenant_id, similarities.item_id
            order by similarities.rank
        ) as rank,
        similarities.similar_item_id,
        similarities.score
    from similarities
    semi join settings on similarities.tenant_id = settings.tenant_id
    semi join items
        on similarities.tenant_id = items.tenant_id
            and similarities.similar_item_id = items.item_id
),

carried as (
    select
        previous.tenant_id,
        previous.item_id,
        row_number() over (
            partition by previous.tenant_id, previous.item_id order by previous.rank
        ) as rank,
        previous.similar_item_id,
        previous.score
    from (
        {{ previous_rows(
            'similar_items', ['tenant_id', 'item_id', 'rank', 'similar_item_id', 'score'],
            'fresh') }}
    ) as previous
    semi join items
        on previous.tenant_id = items.tenant_id and previous.similar_item_id = items.item_id
),

final as (
    select * from fresh
    union all
    select * from carried
)

select * from final
