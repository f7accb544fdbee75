{#- One row per tenant and customer (not erased): what business rules can test about them.
    `age` in full years at the build time (NULL without a birth date), `flags` the customer's
    flags (an empty list without any), the latest consents (a customer without a consents row
    has given both: the contract reads a missing table as "no restrictions"; where rows share
    the latest time, each consent takes its more restrictive value), and every extra column of
    the customers input as it was given. -#}
with

customers as (
    select * from {{ ref('int_customers_collected') }}
),

attributes as (
    select * exclude (country, birth_date, created_at) from {{ ref('stg_customers') }}
),

flags as (
    select tenant_id, customer_id, list(distinct flag order by flag) as flags
    from {{ ref('stg_customer_flags') }}
    group by tenant_id, customer_id
),

latest_consents as (
    select
        tenant_id,
        customer_id,
        bool_and(has_personalization_consent) as has_personalization_consent,
        bool_and(has_marketing_consent) as has_marketing_consent
    from (
        select
            *,
            rank() over (
                partition by tenant_id, customer_id order by updated_at desc nulls last
            ) as recency
        from {{ ref('stg_consents') }}
    ) as ranked
    where recency = 1
    group by tenant_id, customer_id
),

final as (
    select
        customers.tenant_id,
        customers.customer_id,
        customers.country,
        customers.birth_date,
        cast(
            extract(
                year from age(
                    cast({{ build_time() }} as date), customers.birth_date
                )
            ) as integer
        ) as age,
        coalesce(flags.flags, []) as flags,
        coalesce(latest_consents.has_personalization_consent, true)
            as has_personalization_consent,
        coalesce(latest_consents.has_marketing_consent, true) as has_marketing_consent,
        attributes.* exclude (tenant_id, customer_id)
    from customers
    left join attributes
        on customers.tenant_id = attributes.tenant_id
            and customers.customer_id = attributes.customer_id
    left join flags
        on customers.tenant_id = flags.tenant_id
            and customers.customer_id = flags.customer_id
    left join latest_consents
        on customers.tenant_id = latest_consents.tenant_id
            and customers.customer_id = latest_consents.customer_id
)

select * from final
