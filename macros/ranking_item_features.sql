{#- Per tenant and item, what the learned ranker knows of the item (recsql/engine/ranker.py
    ITEM_COLUMNS): from `popularity` (an item_popularity-shaped relation; the tenant's row,
    not a country's) its buyers and popularity score, from `trends` (item_trends-shaped) its
    trend score and recent buyers (NULL: not trending). `where` selects the rows of both
    (e.g. one fold). -#}
{% macro ranking_item_features(popularity, trends, where='true') -%}
select
    coalesce(popularity.tenant_id, trends.tenant_id) as tenant_id,
    coalesce(popularity.item_id, trends.item_id) as item_id,
    popularity.buyers,
    popularity.score as popularity,
    trends.score as trend_score,
    trends.recent_buyers
from (
    select * from {{ popularity }} where country is null and {{ where }}
) as popularity
full join (select * from {{ trends }} where {{ where }}) as trends
    on popularity.tenant_id = trends.tenant_id and popularity.item_id = trends.item_id
{%- endmacro %}
