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
    - `caps`: the customer's cap rules that count this item (applied in int_lists_capped).
    Judged in two passes, which give the same lists as judging every candidate: first the
    champion's top 2k candidates of every customer; a customer whose list those cannot settle
    (fewer than k allowed, or rules that reorder or cap: boosts, caps, the nudge) then has all
    the candidates above judged. A customer settled by the first pass has k allowed candidates
    in score order, which no later candidate can overtake. -#}

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

deep_enough as (
    -- customers the champion gave k candidates or more (ranks run 1, 2, ... per customer)
    select algorithm_candidates.tenant_id, algorithm_candidates.customer_id
    from algorithm_candidates
    inner join settings
        on algorithm_candidates.tenant_id = settings.tenant_id
            and algorithm_candidates.rank = settings.k
),

discover_customers as (
    select
        shelf_customers.tenant_id,
        shelf_customers.customer_id,
        shelf_customers.is_personalized,
        customers.country,
        settings.k,
        -- rules that reorder or cap a list: the first pass cannot settle it
        len(customers.boosts) > 0 or len(customers.caps) > 0
        or settings.sustainability_nudge > 0 as is_reordered,
        -- how deep the popular lists go: k, plus what the customer bought (already-bought
        -- items are taken out) unless the champion gave k candidates or more: then popular
        -- items rarely reach the list, and int_discover_refill_judged fills a list still short
        settings.k + case
            when shelf_customers.is_personalized and deep_enough.customer_id is not null
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
    left join deep_enough
        on shelf_customers.tenant_id = deep_enough.tenant_id
            and shelf_customers.customer_id = deep_enough.customer_id
    where shelf_customers.shelf = 'discover'
),

champion_candidates as (
    select
        tenant_id,
        'discover' as shelf,
        customer_id,
        item_id,
        score,
        algorithm,
        1 as source_order,
        rank as source_rank,
        cast(null as varchar) as reason,
        because_item_id
    from algorithm_candidates
),

first_rows as (
    select champion_candidates.*
    from champion_candidates
    inner join settings
        on champion_candidates.tenant_id = settings.tenant_id
            and champion_candidates.source_rank <= 2 * settings.k
    semi join discover_customers
        on champion_candidates.tenant_id = discover_customers.tenant_id
            and champion_candidates.customer_id = discover_customers.customer_id
            and discover_customers.is_personalized
),

first_pass as materialized (
    {{ judge_candidates('first_rows') }}
),

settled as (
    -- customers the first pass settles: k allowed candidates and no rule that reorders or caps
    select first_pass.tenant_id, first_pass.customer_id
    from first_pass
    inner join discover_customers
        on first_pass.tenant_id = discover_customers.tenant_id
            and first_pass.customer_id = discover_customers.customer_id
    where not discover_customers.is_reordered
    group by first_pass.tenant_id, first_pass.customer_id, discover_customers.k
    having count(*) filter (where first_pass.blocked_by is null) >= discover_customers.k
),

unsettled as (
    select * from discover_customers
    anti join settled
        on discover_customers.tenant_id = settled.tenant_id
            and discover_customers.customer_id = settled.customer_id
),

second_rows as (
    select * from champion_candidates
    semi join unsettled
        on champion_candidates.tenant_id = unsettled.tenant_id
            and champion_candidates.customer_id = unsettled.customer_id
            and unsettled.is_personalized

    union all

    select
        unsettled.tenant_id,
        'discover' as shelf,
        unsettled.customer_id,
        popularity.item_id,
        popularity.score,
        'popularity' as algorithm,
        case when popularity.country is null then 4 else 2 end as source_order,
        popularity.popularity_rank as source_rank,
        case
            when popularity.country is null then 'popular'
            else 'popular in ' || popularity.country
        end as reason,
        cast(null as varchar) as because_item_id
    from unsettled
    inner join popularity
        on unsettled.tenant_id = popularity.tenant_id
            and (unsettled.country = popularity.country or popularity.country is null)
            and unsettled.fill_depth >= popularity.popularity_rank

    union all

    select
        unsettled.tenant_id,
        'discover' as shelf,
        unsettled.customer_id,
        trending.item_id,
        trending.score,
        'trending' as algorithm,
        3 as source_order,
        trending.trending_rank as source_rank,
        'trending' as reason,
        cast(null as varchar) as because_item_id
    from unsettled
    inner join trending
        on unsettled.tenant_id = trending.tenant_id
            and unsettled.fill_depth >= trending.trending_rank
),

second_deduplicated as (
    -- an item offered by several sources counts once, from the first source
    select * from second_rows
    qualify row_number() over (
            partition by tenant_id, customer_id, item_id order by source_order, source_rank
        ) = 1
),

buy_again_rows as (
    select
        repurchase.tenant_id,
        'buy_again' as shelf,
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
        end as reason,
        cast(null as varchar) as because_item_id
    from repurchase
    semi join shelf_customers
        on repurchase.tenant_id = shelf_customers.tenant_id
            and repurchase.customer_id = shelf_customers.customer_id
            and shelf_customers.shelf = 'buy_again'
),

later_rows as (
    select * from second_deduplicated
    union all
    select * from buy_again_rows
),

judged as (
    select * from first_pass
    semi join settled
        on first_pass.tenant_id = settled.tenant_id
            and first_pass.customer_id = settled.customer_id
    union all
    {{ judge_candidates('later_rows') }}
),

final as (
    -- the explanation of a champion's candidate: the history item that speaks for it
    select
        judged.* exclude (reason, because_item_id),
        coalesce(
            judged.reason,
            case
                when because_history.is_bought then 'because you bought '
                else 'because you viewed '
            end
            || coalesce(because.name, because.item_id)
        ) as reason
    from judged
    left join items as because
        on judged.tenant_id = because.tenant_id
            and judged.because_item_id = because.item_id
    left join histories as because_history
        on judged.tenant_id = because_history.tenant_id
            and judged.customer_id = because_history.customer_id
            and judged.because_item_id = because_history.item_id
)

select * from final
