{#- One row per tenant this build trained a version for: its buy-again model (repurchase_models;
    the fixed rule where its holdout had nothing to learn from), what it stores
    (stored_repurchase). -#}
{{ config(materialized='view') }}
with

models as (
    select tenant_id, version from {{ ref('trained_versions') }}
),

final as (
    select
        models.tenant_id,
        models.version,
        coalesce(fitted.method, 'decayed purchase frequency') as method,
        fitted.mean,
        fitted.scale,
        fitted.coef
    from models
    left join {{ ref('repurchase_models') }} as fitted on models.tenant_id = fitted.tenant_id
)

select * from final
