{#- One row per tenant, shelf, served customer and candidate item, with the business rules'
    verdict on it (docs/rules.md has the order):
    - discover: the champion's candidates (personalized customers only), then items popular in
      the customer's country, trending, popular in the tenant (k deep when the champion gave k
      candidates or more, else deep enough to fill k after the customer's bought items);
      buy_again: the items the customer bought, by repurchase score;
    - `blocked_by`: the first rule that forbids it (geo, age, exclude rules, inactive, already
      bought on discover, include_only rules) or NULL;
    - `boost` (the product of the boost rules in `boosted_by`) and `nudge` (sustainability),
      and `adjusted_score` = score x both;
    - `caps`: the customer's cap rules that count this item (applied in int_lists_capped). -#}
with

shelf_customers as (
    select * from {{ ref('int_shelf_customers_decided') }}
    where withheld_by is null
),

customers as (
    select * from {{ ref('customer_rule_states') }}
),

items as (
    select * from {{ ref('item_rule_states') }}
),

settings as (
    select tenant_id, k, sustainability_nudge from {{ ref('tenant_settings') }}
),

champions as (
    select tenant_id, champion from {{ ref('tenant_champions') }}
),

histories as (
    select tenant_id, customer_id, item_id, purchase_occasions > 0 as is_bought
    from {{ ref('int_interactions_weighted') }}
    where fold = 'full'
),

bought_counts as (
    select tenant_id, customer_id, count(*) as items_bought
    from histories
    where is_bought
    group by tenant_id, customer_id
),

popularity as (
    select * from {{ ref('item_popularity') }}
    where fold = 'full'
),

trending as (
    select * from {{ ref('item_trends') }}
    where fold = 'full'
),

repurchase as (
    select
        scores.*, features.purchase_occasions, features.days_since_first,
        features.days_since_last
    from {{ ref('repurchase_scores') }} as scores
    inner join {{ ref('int_repurchase_features') }} as features
        on scores.tenant_id = features.tenant_id
            and scores.fold = features.fold
            and scores.customer_id = features.customer_id
            and scores.item_id = features.item_id
    where scores.fold = 'full'
),

algorithm_candidates as (
    select tenant_id, customer_id, item_id, score, because_item_id, algorithm, rank
    from {{ ref('customer_candidates') }}
    union all
    select
        candidates.tenant_id,
        candidates.customer_id,
        candidates.item_id,
        candidates.score,
        candidates.because_item_id,
        'cooccurrence' as algorithm,
        candidates.rank
    from {{ ref('int_cooccurrence_candidates_scored') }} as candidates
    inner join champions
        on candidates.tenant_id = champions.tenant_id
            and champions.champion = 'cooccurrence'
    where candidates.fold = 'full'
),

algorithm_counts as (
    select tenant_id, customer_id, count(*) as candidates
    from algorithm_candidates
    group by tenant_id, customer_id
),

discover_customers as (
    select
        shelf_customers.tenant_id,
        shelf_customers.customer_id,
        shelf_customers.is_personalized,
        customers.country,
        -- how deep the popular lists go: k, plus what the customer bought (already-bought
        -- items are taken out) unless the champion gave k candidates or more: then popular
        -- items rarely reach the list, and int_discover_refill_judged fills a list still short
        settings.k + case
            when shelf_customers.is_personalized and algorithm_counts.candidates >= settings.k
                then 0
            else coalesce(bought_counts.items_bought, 0)
        end as fill_depth
    from shelf_customers
    inner join customers
        on shelf_customers.tenant_id = customers.tenant_id
            and shelf_customers.customer_id = customers.customer_id
    inner join settings on shelf_customers.tenant_id = settings.tenant_id
    left join bought_counts
        on shelf_customers.tenant_id = bought_counts.tenant_id
            and shelf_customers.customer_id = bought_counts.customer_id
    left join algorithm_counts
        on shelf_customers.tenant_id = algorithm_counts.tenant_id
            and shelf_customers.customer_id = algorithm_counts.customer_id
    where shelf_customers.shelf = 'discover'
),

discover_candidates as (
    select
        algorithm_candidates.tenant_id,
        algorithm_candidates.customer_id,
        algorithm_candidates.item_id,
        algorithm_candidates.score,
        algorithm_candidates.algorithm,
        1 as source_order,
        algorithm_candidates.rank as source_rank,
        case
            when because_history.is_bought then 'because you bought '
            else 'because you viewed '
        end
        || coalesce(because.name, because.item_id) as reason
    from algorithm_candidates
    semi join discover_customers
        on algorithm_candidates.tenant_id = discover_customers.tenant_id
            and algorithm_candidates.customer_id = discover_customers.customer_id
            and discover_customers.is_personalized
    left join items as because
        on algorithm_candidates.tenant_id = because.tenant_id
            and algorithm_candidates.because_item_id = because.item_id
    left join histories as because_history
        on algorithm_candidates.tenant_id = because_history.tenant_id
            and algorithm_candidates.customer_id = because_history.customer_id
            and algorithm_candidates.because_item_id = because_history.item_id

    union all

    select
        discover_customers.tenant_id,
        discover_customers.customer_id,
        popularity.item_id,
        popularity.score,
        'popularity' as algorithm,
        case when popularity.country is null then 4 else 2 end as source_order,
        popularity.popularity_rank as source_rank,
        case
            when popularity.country is null then 'popular'
            else 'popular in ' || popularity.country
        end as reason
    from discover_customers
    inner join popularity
        on discover_customers.tenant_id = popularity.tenant_id
            and (discover_customers.country = popularity.country or popularity.country is null)
            and discover_customers.fill_depth >= popularity.popularity_rank

    union all

    select
        discover_customers.tenant_id,
        discover_customers.customer_id,
        trending.item_id,
        trending.score,
        'trending' as algorithm,
        3 as source_order,
        trending.trending_rank as source_rank,
        'trending' as reason
    from discover_customers
    inner join trending
        on discover_customers.tenant_id = trending.tenant_id
            and discover_customers.fill_depth >= trending.trending_rank
),

buy_again_candidates as (
    select
        repurchase.tenant_id,
        repurchase.customer_id,
        repurchase.item_id,
        repurchase.score,
        'repurchase' as algorithm,
        1 as source_order,
        row_number() over (
            partition by repurchase.tenant_id, repurchase.customer_id
            order by repurchase.score desc, repurchase.item_id asc
        ) as source_rank,
        case
            when repurchase.purchase_occasions >= 3
                and (repurchase.days_since_first - repurchase.days_since_last)
                / (repurchase.purchase_occasions - 1) >= 1
                then 'you buy this about every '
                    || cast(
                        round(
                            (repurchase.days_since_first - repurchase.days_since_last)
                            / (repurchase.purchase_occasions - 1)
                        ) as integer
                    )
                    || ' days'
            when repurchase.purchase_occasions >= 2
                then 'you bought this ' || repurchase.purchase_occasions || ' times'
            else 'you bought this before'
        end as reason
    from repurchase
    semi join shelf_customers
        on repurchase.tenant_id = shelf_customers.tenant_id
            and repurchase.customer_id = shelf_customers.customer_id
            and shelf_customers.shelf = 'buy_again'
),

candidates as (
    select 'discover' as shelf, * from discover_candidates
    qualify row_number() over (
            partition by tenant_id, customer_id, item_id order by source_order, source_rank
        ) = 1
    union all
    select 'buy_again' as shelf, * from buy_again_candidates
),

final as (
    select
        candidates.tenant_id,
        candidates.shelf,
        candidates.customer_id,
        candidates.item_id,
        candidates.algorithm,
        candidates.source_order,
        candidates.source_rank,
        candidates.reason,
        candidates.score,
        i.category,
        coalesce(
            recsql_blocked_by(c, i),
            case
                when candidates.shelf = 'discover' and bought.is_bought then 'already bought'
            end,
            recsql_not_included_by(c, i)
        ) as blocked_by,
        recsql_boost(c, i) as boost,
        list_transform(
            list_filter(c.boosts, lambda b: list_contains(i.rule_keys, b.rule_key)),  -- noqa: RF01
            lambda b: b.rule_key  -- noqa: RF01
        ) as boosted_by,
        recsql_nudge(c, i, settings.sustainability_nudge) as nudge,
        candidates.score * recsql_boost(c, i) * recsql_nudge(c, i, settings.sustainability_nudge)
            as adjusted_score,
        list_filter(
            c.caps, lambda cap: list_contains(i.rule_keys, cap.rule_key)  -- noqa: RF01
        ) as caps
    from candidates
    inner join customers as c
        on candidates.tenant_id = c.tenant_id
            and candidates.customer_id = c.customer_id
    inner join items as i
        on candidates.tenant_id = i.tenant_id
            and candidates.item_id = i.item_id
    inner join settings on candidates.tenant_id = settings.tenant_id
    left join histories as bought
        on candidates.tenant_id = bought.tenant_id
            and candidates.customer_id = bought.customer_id
            and candidates.item_id = bought.item_id
)

select * from final
