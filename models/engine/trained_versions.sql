{#- One row per tenant this build trained (mode not off, with a champion): the model set of the
    night as one version of the tenant's models (docs/lifecycle.md) — the discover champion
    with its variant and the buy-again model, the settings they were fitted with, their holdout
    NDCG@k, and the lineage of the data: the newest interaction, rows, customers, items and a
    fingerprint of the rows (the same interactions give the same fingerprint, in any order), and
    the erasure requests it saw (a later one makes tenant_plans retrain it).
    The version's id is the build's id; the publication records it in the state database. -#}
with

settings as (
    select * from {{ ref('tenant_settings') }}
    where mode <> 'off'
),

champions as (
    select * from {{ ref('tenant_champions') }}
),

buy_again as (
    select tenant_id, value as ndcg
    from {{ ref('model_evaluations') }}
    where shelf = 'buy_again' and metric = 'ndcg' and algorithm = 'repurchase'
),

interactions as (
    select
        tenant_id,
        max(occurred_at) as data_until,
        count(*) as interactions,
        count(distinct customer_id) as customers,
        count(distinct item_id) as items,
        -- a sum, not an xor: two equal rows do not cancel
        sum(
            hash(customer_id, item_id, occurred_at, event_type, quantity, value, session_id)
            ::hugeint
        ) % 18446744073709551616 as fingerprint
    from {{ ref('int_interactions_retained') }}
    group by tenant_id
),

final as (
    select
        settings.tenant_id,
        '{{ build_id() }}' as version,
        {{ build_time() }} as trained_at,
        interactions.data_until,
        champions.champion as algorithm,
        champions.champion_variant as variant,
        'repurchase' as buy_again_algorithm,
        to_json(settings) as parameters,
        interactions.interactions,
        interactions.customers,
        interactions.items,
        printf('%016x', interactions.fingerprint::ubigint) as input_fingerprint,
        champions.best_ndcg as ndcg,
        buy_again.ndcg as buy_again_ndcg,
        plans.erasures,
        plans.erasure_keys
    from settings
    inner join champions on settings.tenant_id = champions.tenant_id
    inner join interactions on settings.tenant_id = interactions.tenant_id
    left join buy_again on settings.tenant_id = buy_again.tenant_id
    inner join {{ ref('tenant_plans') }} as plans on settings.tenant_id = plans.tenant_id
)

select * from final
