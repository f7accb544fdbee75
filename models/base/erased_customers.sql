{#- One row per tenant and customer who asked to be forgotten (erasure_requests): not the id,
    a salted hash of it (sha256 of a random salt, the tenant and the id), so that a published
    file can answer "is this an erased customer?" for an id it is given - and serve them
    nothing, as it serves any customer it withholds - without holding the id. Each row has its
    own salt: the hash of one id tells nothing about another. -#}
with

erasures as (
    select distinct tenant_id, customer_id from {{ ref('stg_erasure_requests') }}
),

salted as (
    select tenant_id, customer_id, md5(cast(uuid() as varchar)) as salt
    from erasures
),

final as (
    select tenant_id, salt, sha256(salt || tenant_id || chr(31) || customer_id) as customer_hash
    from salted
)

select * from final
