{#- One row per accepted interaction of a customer who has not asked to be forgotten (and
    every guest event). Every engine model reads interactions from here, never from staging:
    an erased customer gets no list and has no influence on anyone else's model, popularity or
    similarities. -#}
with

interactions as (
    select * from {{ ref('stg_interactions') }}
),

erasures as (
    select distinct tenant_id, customer_id from {{ ref('stg_erasure_requests') }}
),

final as (
    select interactions.*
    from interactions
    anti join erasures
        on interactions.tenant_id = erasures.tenant_id
            and interactions.customer_id = erasures.customer_id
)

select * from final
