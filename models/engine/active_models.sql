{#- One row per tenant served fresh lists in this build (not off, not held) that has a
    version: the version that serves it, the newest interaction it was trained on (data_until),
    and where its model comes from — `trained` by this build (trained_versions; a
    first version, or one trained for an erasure: tenant_plans' new_version_status 'active')
    or `stored` in the state database: the candidate the promotion gate promotes this build
    (promotion_judgements), else the tenant's active version (tenant_plans' action score, a
    candidate trained this build, or a training that produced nothing). What the lists,
    popular, trending and similar items are made from (the active_* models: the version's
    stored model) and the model_version of every served row (docs/lifecycle.md). -#}
with

plans as (
    select tenant_id, action, new_version_status from {{ ref('tenant_plans') }}
    where action in ('train', 'score')
),

trained as (
    select
        versions.tenant_id,
        versions.version,
        versions.algorithm,
        versions.variant,
        versions.parameters,
        versions.data_until
    from {{ ref('trained_versions') }} as versions
    semi join plans
        on versions.tenant_id = plans.tenant_id and plans.new_version_status = 'active'
),

promoted as (
    select
        candidates.tenant_id,
        candidates.version,
        candidates.algorithm,
        candidates.variant,
        candidates.parameters,
        candidates.data_until
    from {{ ref('promotion_judgements') }} as judgements
    inner join {{ source('lifecycle_state', 'candidate_versions') }} as candidates
        on judgements.tenant_id = candidates.tenant_id
            and judgements.candidate_version = candidates.version
    where judgements.verdict = 'promoted'
),

stored as (
    select tenant_id, version, algorithm, variant, parameters, data_until
    from {{ source('lifecycle_state', 'active_versions') }}
    where is_stored
),

-- the first of these that a tenant has serves it
choices as (
    select *, 1 as choice, 'trained' as model_source from trained
    union all
    select *, 2 as choice, 'stored' as model_source from promoted
    union all
    select *, 3 as choice, 'stored' as model_source from stored
),

final as (
    select choices.* exclude (choice)
    from choices
    semi join plans on choices.tenant_id = plans.tenant_id
    qualify row_number() over (partition by choices.tenant_id order by choices.choice) = 1
)

select * from final
