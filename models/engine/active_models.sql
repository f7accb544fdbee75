{#- One row per tenant served in this build (mode not off) that has a version: the version that
    serves it and where its model comes from — `trained` by this build (trained_versions; every
    training is active at once until the promotion gate) or `stored` (its active version in the
    state database: tenant_plans' action score, or a training that produced nothing). What the
    lists, popular, trending and similar items are made from (the active_* models: the version's
    stored model) and the model_version of every served row (docs/lifecycle.md). -#}
with

plans as (
    select tenant_id, action from {{ ref('tenant_plans') }}
    where action <> 'off'
),

trained as (
    select tenant_id, version, algorithm, variant, parameters from {{ ref('trained_versions') }}
),

stored as (
    select tenant_id, version, algorithm, variant, parameters
    from {{ source('lifecycle_state', 'active_versions') }}
    where is_stored
),

final as (
    select
        plans.tenant_id,
        coalesce(trained.version, stored.version) as version,
        coalesce(trained.algorithm, stored.algorithm) as algorithm,
        if(trained.version is null, stored.variant, trained.variant) as variant,
        coalesce(trained.parameters, stored.parameters) as parameters,
        if(trained.version is null, 'stored', 'trained') as model_source
    from plans
    left join trained on plans.tenant_id = trained.tenant_id
    left join stored on plans.tenant_id = stored.tenant_id
    where coalesce(trained.version, stored.version) is not null
)

select * from final
