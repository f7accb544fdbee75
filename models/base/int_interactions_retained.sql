{#- One row per accepted interaction of a customer who has not asked to be forgotten (and
    every guest event), of a tenant whose inputs passed input_acceptance. Every engine model
    reads interactions from here, never from staging: an erased customer gets no list and has
    no influence on anyone else's model, popularity or similarities; and nothing is learnt
    from a tenant whose input was mostly rejected (the build fails on it, and every model from
    here on, the publication included, waits for that check). -#}
with

interactions as (
    select * from {{ ref('stg_interactions') }}
),

erasures as (
    select distinct tenant_id, customer_id from {{ ref('stg_erasure_requests') }}
),

insufficient_tenants as (
    select distinct tenant_id from {{ ref('input_acceptance') }}
    where not is_sufficient
),

final as (
    select interactions.*
    from interactions
    anti join erasures
        on interactions.tenant_id = erasures.tenant_id
            and interactions.customer_id = erasures.customer_id
    anti join insufficient_tenants
        on interactions.tenant_id = insufficient_tenants.tenant_id
)

select * from final
