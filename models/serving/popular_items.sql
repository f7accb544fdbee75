{#- One row per tenant, country (NULL = the whole tenant) and rank: the most popular active
    items (time-decayed distinct buyers), `candidates_n` of them per country; a country's list
    leaves out the items restricted there (item_rule_states). -#}
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
    where mode <> 'off'
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

final as (
    select active.tenant_id, active.country, active.rank, active.item_id, active.score
    from active
    inner join settings on active.tenant_id = settings.tenant_id
    where active.rank <= settings.candidates_n
)

select * from final
