{#- One row per tenant, shelf, served customer and candidate item: the pool each list is
    assembled from, judged by the business rules (docs/rules.md has the order).

    The pool, in list order by source:
    - discover: 1 the champion's candidates (personalized customers only); 2 items popular in
      the customer's country, 3 trending, 4 popular in the tenant, each `fill_depth` deep
      (k, plus the items the customer bought unless the champion gave k candidates or more);
      5 every other item of the tenant the customer's rule class may be shown, most popular
      (x boosts) first;
    - buy_again: 1 the items the customer bought, by repurchase score;
    - new_for_you: 1 the new items most like what the customer interacted with
      (new_item_candidates), no fill: a short list stays short.
    A source is added only for customers the sources before it may leave short of k: those for
    whom a walk of the category caps keeps fewer than k of their allowed candidates so far,
    whatever the order (kept_at_least). Source 5 goes only as deep as the class's list must to
    give k whatever the customer bought. So every served customer gets k items whenever k
    allowed items exist, and no customer's pool holds the whole catalogue. Where nothing
    reorders a customer's candidates (no boost, no nudge) and no cap counts one, the champion's
    candidates after the k-th allowed one are left out: they cannot reach the list.

    Each row is judged once (judge_candidates): the verdicts of its rule class
    (rule_class_verdicts: `blocked_by` - the first rule that forbids it, with `already bought`
    on discover - `boost`, `boosted_by`, `caps`), the sustainability `nudge`, and
    `adjusted_score` = score x boost x nudge. `list_position` orders the allowed rows: source,
    then adjusted score, then the source's own rank; list_cap_removals walks the caps in that
    order. `is_below_threshold`: the customer's best personalized candidate scores under the
    tenant's nothing_threshold (discover only). `reason`: a fill's or buy-again's own; a
    champion's candidate or a new item has none here, only `because_item_id`, the history item
    that speaks for it - served_lists words the reason of the rows it serves (wording every
    candidate's here, before the window below sorted them with it, took 1.2 of this model's
    9 s at 1,000 tenants; served_lists pays 0.9 s of it back). -#}

{#- DuckDB estimates the customers joined to the champion's candidates on (tenant_id,
    customer_id) at a thousand times their number (hundreds of millions), and so builds its hash
    tables on the candidates (millions of rows) instead: its build-side optimizer is off for
    this model (7.9 instead of 13.3 s for 1,000 tenants; the same rows), on again after it. The
    setting is the database's, not the connection's; should the model fail, what runs after it
    runs the same, only without that optimizer. -#}
{{ config(
    pre_hook="set disabled_optimizers = 'build_side_probe_side'",
    post_hook="reset disabled_optimizers",
) }}

with

shelf_customers as (
    -- of the tenants served fresh lists (a held tenant keeps its published ones: served_lists)
    select * from {{ ref('customer_shelves') }} as shelves
    where
        shelves.withheld_by is null
        and shelves.tenant_id in {{ fresh_tenants() }}
),

-- the rule states and verdicts of the tenants served fresh lists only: DuckDB builds its hash
-- tables on these (its build-side optimizer is off), and the whole fleet's cost 0.3 s a night
-- even when no tenant is scored
people as (
    select tenant_id, customer_id, rule_class, country, boosts, sustainability_average
    from {{ ref('customer_rule_states') }}
    where not is_visitor and tenant_id in {{ fresh_tenants() }}
),

items as (
    select tenant_id, item_id, name, category, sustainability_score
    from {{ ref('item_rule_states') }}
    where tenant_id in {{ fresh_tenants() }}
),

verdicts as (
    select * from {{ ref('rule_class_verdicts') }}
    where tenant_id in {{ fresh_tenants() }}
),

settings as (
    select tenant_id, k, sustainability_nudge, nothing_threshold
    from {{ ref('tenant_settings') }}
),

champions as (
    -- the champion of the tenant's active version
    select tenant_id, algorithm as champion from {{ ref('active_models') }}
),

histories as (
    select tenant_id, customer_id, item_id, purchase_occasions > 0 as is_bought
    from {{ ref('int_interactions_weighted') }}
    where fold = 'full'
),

popularity as (
    select * from {{ ref('active_item_popularity') }}
    where tenant_id in {{ fresh_tenants() }}
),

trending as (
    select * from {{ ref('active_item_trends') }}
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

-- read where it is used (three times): DuckDB would otherwise write the tables' tens of
-- millions of rows into a temporary copy first (75 -> 51 s at 4,000 tenants)
algorithm_candidates as not materialized (
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
    from {{ ref('cooccurrence_candidates') }} as candidates
    inner join champions
        on candidates.tenant_id = champions.tenant_id
            and champions.champion = 'cooccurrence'
    where candidates.fold = 'full'
),

bought_counts as (
    select tenant_id, customer_id, count(*) as items_bought
    from histories
    where is_bought
    group by tenant_id, customer_id
),

champion_depths as (
    select tenant_id, customer_id, count(*) as candidates
    from algorithm_candidates
    group by tenant_id, customer_id
),

discover_customers as (
    select
        shelf_customers.tenant_id,
        shelf_customers.customer_id,
        shelf_customers.is_personalized,
        people.rule_class,
        people.country,
        settings.k,
        -- boosts and the nudge reorder a source's candidates; without them a customer's
        -- list keeps the champion's order
        len(people.boosts) > 0 or settings.sustainability_nudge > 0 as is_reordered,
        coalesce(bought_counts.items_bought, 0) as items_bought,
        -- already-bought items are taken out of the popular lists: they go k deeper, unless
        -- the champion gave k candidates or more (then they rarely reach the list, and
        -- source 5 fills a list still short)
        settings.k + case
            when
                shelf_customers.is_personalized
                and coalesce(champion_depths.candidates, 0) >= settings.k
                then 0
            else coalesce(bought_counts.items_bought, 0)
        end as fill_depth
    from shelf_customers
    inner join people
        on shelf_customers.tenant_id = people.tenant_id
            and shelf_customers.customer_id = people.customer_id
    inner join settings on shelf_customers.tenant_id = settings.tenant_id
    left join bought_counts
        on shelf_customers.tenant_id = bought_counts.tenant_id
            and shelf_customers.customer_id = bought_counts.customer_id
    left join champion_depths
        on shelf_customers.tenant_id = champion_depths.tenant_id
            and shelf_customers.customer_id = champion_depths.customer_id
    where shelf_customers.shelf = 'discover'
),

-- 1. the champion's candidates
champion_allowed as (
    -- the ranks of each personalized customer's allowed candidates (the verdicts looked up, as
    -- judge_candidates does; a champion never offers what the customer bought), and whether a
    -- cap counts any of their candidates
    select
        candidates.tenant_id,
        candidates.customer_id,
        customers.rule_class,
        customers.k,
        customers.is_reordered,
        list(candidates.rank order by candidates.rank) filter (
            where verdicts.blocked_by is null and verdicts.not_included_by is null
        ) as allowed_ranks,
        coalesce(bool_or(len(verdicts.caps) > 0), false) as is_capped
    from algorithm_candidates as candidates
    inner join discover_customers as customers
        on candidates.tenant_id = customers.tenant_id
            and candidates.customer_id = customers.customer_id
            and customers.is_personalized
    left join verdicts
        on candidates.tenant_id = verdicts.tenant_id
            and customers.rule_class = verdicts.rule_class
            and candidates.item_id = verdicts.item_id
    group by
        candidates.tenant_id,
        candidates.customer_id,
        customers.rule_class,
        customers.k,
        customers.is_reordered
),

champion_cuts as (
    -- where nothing reorders a customer's candidates (no boost, no nudge) and no cap counts
    -- one, their list is the first k allowed candidates in the champion's order: the rank of
    -- the k-th, `cut_rank`, is as deep as the list can reach; `is_uncut` where it can reach
    -- them all. Scalars, not the list of ranks: champion_rows copies them to every candidate
    select
        tenant_id,
        customer_id,
        rule_class,
        is_reordered or is_capped or coalesce(len(allowed_ranks), 0) < k as is_uncut,
        allowed_ranks[k] as cut_rank
    from champion_allowed
),

champion_rows as (
    select
        candidates.tenant_id,
        'discover' as shelf,
        candidates.customer_id,
        cuts.rule_class,
        candidates.item_id,
        candidates.algorithm,
        1 as source_order,
        candidates.rank as source_rank,
        cast(null as varchar) as reason,
        candidates.because_item_id,
        candidates.score
    from algorithm_candidates as candidates
    inner join champion_cuts as cuts
        on candidates.tenant_id = cuts.tenant_id
            and candidates.customer_id = cuts.customer_id
    where cuts.is_uncut or candidates.rank <= cuts.cut_rank
),

champion_judged as materialized (
    {{ judge_candidates('champion_rows') }}
),

champion_kept as (
    {{ kept_at_least('champion_judged') }}
),

-- 2 to 4. popular in the country, trending, popular in the tenant
short_of_champion as (
    select discover_customers.*
    from discover_customers
    left join champion_kept
        on discover_customers.tenant_id = champion_kept.tenant_id
            and discover_customers.customer_id = champion_kept.customer_id
    where coalesce(champion_kept.kept, 0) < discover_customers.k
),

fill_offers as (
    select
        short.tenant_id,
        short.customer_id,
        short.rule_class,
        popularity.item_id,
        popularity.score,
        case when popularity.country is null then 4 else 2 end as source_order,
        popularity.popularity_rank as source_rank,
        case
            when popularity.country is null then 'popular'
            else 'popular in ' || popularity.country
        end as reason
    from short_of_champion as short
    inner join popularity
        on short.tenant_id = popularity.tenant_id
            and (short.country = popularity.country or popularity.country is null)
            and short.fill_depth >= popularity.popularity_rank

    union all

    select
        short.tenant_id,
        short.customer_id,
        short.rule_class,
        trending.item_id,
        trending.score,
        3 as source_order,
        trending.trending_rank as source_rank,
        'trending' as reason
    from short_of_champion as short
    inner join trending
        on short.tenant_id = trending.tenant_id
            and short.fill_depth >= trending.trending_rank
),

fill_rows as (
    -- an item offered by several sources counts once, from the first source
    select
        offers.tenant_id,
        'discover' as shelf,
        offers.customer_id,
        offers.rule_class,
        offers.item_id,
        case when offers.source_order = 3 then 'trending' else 'popularity' end as algorithm,
        offers.source_order,
        offers.source_rank,
        offers.reason,
        cast(null as varchar) as because_item_id,
        offers.score
    from fill_offers as offers
    anti join champion_rows
        on offers.tenant_id = champion_rows.tenant_id
            and offers.customer_id = champion_rows.customer_id
            and offers.item_id = champion_rows.item_id
    qualify row_number() over (
            partition by offers.tenant_id, offers.customer_id, offers.item_id
            order by offers.source_order, offers.source_rank
        ) = 1
),

fill_judged as materialized (
    {{ judge_candidates('fill_rows') }}
),

filled as (
    select * from champion_judged
    semi join short_of_champion
        on champion_judged.tenant_id = short_of_champion.tenant_id
            and champion_judged.customer_id = short_of_champion.customer_id
    union all
    select * from fill_judged
),

filled_kept as (
    {{ kept_at_least('filled') }}
),

-- 5. every other item the customer's rule class may be shown
pool_sizes as (
    select tenant_id, customer_id, count(*) as candidates
    from filled
    group by tenant_id, customer_id
),

short_of_fill as (
    select
        short.tenant_id,
        short.customer_id,
        short.rule_class,
        -- enough of the class's list to keep k after what the customer bought and what the
        -- sources before already offered are taken out
        short.k + short.items_bought + coalesce(pool_sizes.candidates, 0) as needed
    from short_of_champion as short
    left join filled_kept
        on short.tenant_id = filled_kept.tenant_id
            and short.customer_id = filled_kept.customer_id
    left join pool_sizes
        on short.tenant_id = pool_sizes.tenant_id
            and short.customer_id = pool_sizes.customer_id
    where coalesce(filled_kept.kept, 0) < short.k
),

refill_classes as (
    select tenant_id, rule_class, max(needed) as needed
    from short_of_fill
    group by tenant_id, rule_class
),

class_catalogues as (
    -- the items each class may be shown, most popular first (boosts applied)
    select
        classes.tenant_id,
        classes.rule_class,
        classes.needed,
        items.item_id,
        items.category,
        coalesce(popularity.score, 0.0) as score,
        coalesce(popularity.score, 0.0) * coalesce(verdicts.boost, 1.0) as class_score,
        coalesce(verdicts.caps, []) as caps
    from refill_classes as classes
    inner join items on classes.tenant_id = items.tenant_id
    left join verdicts
        on classes.tenant_id = verdicts.tenant_id
            and classes.rule_class = verdicts.rule_class
            and items.item_id = verdicts.item_id
    left join popularity
        on items.tenant_id = popularity.tenant_id
            and items.item_id = popularity.item_id
            and popularity.country is null
    where verdicts.blocked_by is null and verdicts.not_included_by is null
),

class_positions as (
    -- `adds`: whether the row surely adds a kept item to a walk of the caps (as in
    -- kept_at_least: it is not counted by a cap, or fewer rows of its category came before it
    -- than the category's smallest cap)
    select
        *,
        row_number() over (
            partition by tenant_id, rule_class order by class_score desc, item_id asc
        ) as position,
        case
            when len(caps) = 0 then 1
            when row_number() over (
                    partition by tenant_id, rule_class, category, len(caps) > 0
                    order by class_score desc, item_id asc
                ) <= min(list_min(list_transform(caps, lambda cap: cap.cap)))
                    over (  -- noqa: RF01
                        partition by tenant_id, rule_class, category
                    )
                then 1
            else 0
        end as adds
    from class_catalogues
),

class_reaches as (
    select
        *,
        sum(adds) over (
            partition by tenant_id, rule_class order by position rows unbounded preceding
        ) - adds as kept_before
    from class_positions
),

refill_rows as (
    select
        short.tenant_id,
        'discover' as shelf,
        short.customer_id,
        short.rule_class,
        reaches.item_id,
        'popularity' as algorithm,
        5 as source_order,
        reaches.position as source_rank,
        'popular' as reason,
        cast(null as varchar) as because_item_id,
        reaches.score
    from short_of_fill as short
    inner join class_reaches as reaches
        on short.tenant_id = reaches.tenant_id
            and short.rule_class = reaches.rule_class
            and short.needed > reaches.kept_before
    anti join filled
        on short.tenant_id = filled.tenant_id
            and short.customer_id = filled.customer_id
            and reaches.item_id = filled.item_id
    where reaches.kept_before < reaches.needed
),

refill_judged as (
    {{ judge_candidates('refill_rows') }}
),

-- buy again: the items the customer bought
buy_again_rows as (
    select
        repurchase.tenant_id,
        'buy_again' as shelf,
        repurchase.customer_id,
        people.rule_class,
        repurchase.item_id,
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
        cast(null as varchar) as because_item_id,
        repurchase.score
    from repurchase
    inner join people
        on repurchase.tenant_id = people.tenant_id
            and repurchase.customer_id = people.customer_id
    semi join shelf_customers
        on repurchase.tenant_id = shelf_customers.tenant_id
            and repurchase.customer_id = shelf_customers.customer_id
            and shelf_customers.shelf = 'buy_again'
),

buy_again_judged as (
    {{ judge_candidates('buy_again_rows') }}
),

-- new for you: new items like what the customer interacted with
new_item_rows as (
    select
        candidates.tenant_id,
        'new_for_you' as shelf,
        candidates.customer_id,
        people.rule_class,
        candidates.item_id,
        'content' as algorithm,
        1 as source_order,
        candidates.rank as source_rank,
        cast(null as varchar) as reason,
        candidates.because_item_id,
        candidates.score
    from {{ ref('new_item_candidates') }} as candidates
    inner join people
        on candidates.tenant_id = people.tenant_id
            and candidates.customer_id = people.customer_id
    semi join shelf_customers
        on candidates.tenant_id = shelf_customers.tenant_id
            and candidates.customer_id = shelf_customers.customer_id
            and shelf_customers.shelf = 'new_for_you'
),

new_item_judged as (
    {{ judge_candidates('new_item_rows') }}
),

judged as (
    select * from champion_judged
    union all
    select * from fill_judged
    union all
    select * from refill_judged
    union all
    select * from buy_again_judged
    union all
    select * from new_item_judged
),

best as (
    select tenant_id, customer_id, max(adjusted_score) as best_score
    from champion_judged
    where blocked_by is null
    group by tenant_id, customer_id
),

final as (
    select
        judged.*,
        case
            when judged.blocked_by is null
                then row_number() over (
                        partition by
                            judged.tenant_id,
                            judged.shelf,
                            judged.customer_id,
                            judged.blocked_by is null
                        order by
                            judged.source_order asc,
                            judged.adjusted_score desc,
                            judged.source_rank asc,
                            judged.item_id asc
                    )
        end as list_position,
        coalesce(
            judged.shelf = 'discover' and best.best_score < settings.nothing_threshold, false
        ) as is_below_threshold
    from judged
    inner join settings on judged.tenant_id = settings.tenant_id
    left join best
        on judged.tenant_id = best.tenant_id
            and judged.customer_id = best.customer_id
)

select * from final
