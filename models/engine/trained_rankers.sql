{#- One row per tenant this build trained a version for whose champion is ranked (a matrix
    model's candidates re-ordered by a learned ranker): the ranker it stores (stored_rankers). -#}
{{ config(materialized='view') }}
with

final as (
    select versions.tenant_id, versions.version, rankers.features, rankers.weights
    from {{ ref('trained_versions') }} as versions
    inner join {{ ref('rankers') }} as rankers
        on versions.tenant_id = rankers.tenant_id
            and versions.algorithm = rankers.algorithm
            and versions.variant = rankers.variant
)

select * from final
