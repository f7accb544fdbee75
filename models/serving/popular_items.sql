{#- One row per tenant, country (NULL = the whole tenant) and rank: the most popular active
    items (time-decayed distinct buyers), `candidates_n` of them per country; a country's list
    leaves out the items restricted there (item_rule_states). A tenant the build holds keeps
    its published rows (previous_rows) of items still active and not restricted there. -#}
with

popularity as (
    select * from {{ ref('active_item_popularity') }}
),

items as (
    select tenant_id, item_id, blocked_countries from {{ ref('item_rule_states') }}
    where is_active
),

settings as (
    select tenant_id, candidates_n from {{ ref('tenant_settings') }}
    -- the tenants served fresh lists (a held one keeps its published rows: carried)
    where mode <> 'off' and tenant_id not in {{ held_tenants() }}
),

active as (
    select
        popularity.tenant_id,
        popularity.country,
        popularity.item_id,
        popularity.score,
        row_number() over (
            partition by popularity.tenant_id, popularity.country
            order by popularity.popularity_rank
        ) as rank
    from popularity
    inner join items
        on popularity.tenant_id = items.tenant_id and popularity.item_id = items.item_id
    where not coalesce(list_contains(items.blocked_countries, popularity.country), false)
),

fresh as (
    select active.tenant_id, active.country, active.rank, active.item_id, active.score
    from active
    inner join settings on active.tenant_id = settings.tenant_id
    where active.rank <= settings.candidates_n
),

carried as (
    select
        previous.tenant_id,
        previous.country,
        row_number() over (
            partition by previous.tenant_id, previous.country order by previous.rank
        ) as rank,
        previous.item_id,
        previous.score
    from (
        {{ previous_rows(
            'popular_items', ['tenant_id', 'country', 'rank', 'item_id', 'score'], 'fresh') }}
    ) as previous
    inner join items
        on previous.tenant_id = items.tenant_id and previous.item_id = items.item_id
    where not coalesce(list_contains(items.blocked_countries, previous.country), false)
),

final as (
    select * from fresh
    union all
    select * from carried
)

select * from final
