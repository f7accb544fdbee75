{#- One row per item of each served tenant whose version's champion is ranked (active_rankers):
    what its learned ranker knows of the item, as of the version's data (its popularity and
    trends: active_item_popularity, active_item_trends). -#}
{{ config(materialized='view') }}
with

features as (
    {{ ranking_item_features(ref('active_item_popularity'), ref('active_item_trends')) }}
),

final as (
    select features.*
    from features
    semi join {{ ref('active_rankers') }} as rankers on features.tenant_id = rankers.tenant_id
)

select * from final
