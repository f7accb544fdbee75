{#- One row per tenant: the algorithm (and variant) that serves its "discover" list and why.
    The champion is the algorithm and variant with the best NDCG@k on the discover shelf of the
    offline evaluation, if it beats popularity (the floor); else popularity. A tenant setting
    other than 'auto' forces an algorithm (its best evaluated variant serves). EASE is fitted
    on a catalogue of any size: over ease_max_items items, on the most popular
    (recsql/engine/candidates.py: fitted_on). -#}
with

settings as (
    select tenant_id, algorithm from {{ ref('tenant_settings') }}
    where tenant_id in {{ training_tenants() }}
),

ndcg as (
    select tenant_id, algorithm, variant, value, customers
    from {{ ref('model_evaluations') }}
    where shelf = 'discover' and metric = 'ndcg'
),

best as (
    select
        tenant_id,
        -- ties go to the cheaper algorithm
        arg_max(
            { 'algorithm': algorithm, 'variant': variant },
            [
                value,
                -list_position(['popularity', 'cooccurrence', 'ease', 'als'], algorithm)
            ]
        ) as pick,
        max(value) as ndcg,
        max(customers) as customers
    from ndcg
    group by tenant_id
),

best_variants as (
    -- equal NDCGs go to the first variant by name, the same in every build
    select tenant_id, algorithm, first(variant order by value desc, variant asc) as variant
    from ndcg
    group by tenant_id, algorithm
),

popularity as (
    select tenant_id, value as ndcg from ndcg where algorithm = 'popularity'
),

chosen as (
    select
        settings.tenant_id,
        case
            when settings.algorithm <> 'auto' then settings.algorithm
            when best.ndcg > coalesce(popularity.ndcg, 0) then best.pick.algorithm
            else 'popularity'
        end as champion,
        case
            when settings.algorithm <> 'auto' then 'forced by the tenant setting'
            when best.ndcg is null then 'no holdout data to evaluate: popularity'
            when best.ndcg > coalesce(popularity.ndcg, 0) then 'best discover NDCG@k'
            else 'nothing beat popularity'
        end as champion_reason,
        best.ndcg as best_ndcg,
        popularity.ndcg as popularity_ndcg,
        coalesce(best.customers, 0) as customers_evaluated
    from settings
    left join best on settings.tenant_id = best.tenant_id
    left join popularity on settings.tenant_id = popularity.tenant_id
),

final as (
    select
        chosen.tenant_id,
        chosen.champion,
        best_variants.variant as champion_variant,
        chosen.champion_reason,
        chosen.best_ndcg,
        chosen.popularity_ndcg,
        chosen.customers_evaluated
    from chosen
    left join best_variants
        on chosen.tenant_id = best_variants.tenant_id
            and chosen.champion = best_variants.algorithm
)

select * from final
