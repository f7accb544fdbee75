{#- One row per tenant and customer who asked to be forgotten (erasure_requests): not the id,
    a salted hash of it (sha256 of the tenant's salt, the tenant and the id), so that a
    published file can answer "is this an erased customer?" for an id it is given - and serve
    them nothing, as it serves any customer it withholds - without holding the id. The salt is
    drawn at random per tenant and build. -#}
with

erasures as (
    select distinct tenant_id, customer_id from {{ ref('stg_erasure_requests') }}
),

salts as (
    select tenant_id, md5(cast(uuid() as varchar)) as salt
    from (select distinct tenant_id from erasures) as tenants
),

final as (
    select
        erasures.tenant_id,
        salts.salt,
        sha256(salts.salt || erasures.tenant_id || chr(31) || erasures.customer_id)
            as customer_hash
    from erasures
    inner join salts on erasures.tenant_id = salts.tenant_id
)

select * from final
