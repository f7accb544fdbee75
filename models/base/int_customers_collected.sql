{#- One row per tenant and customer known from the customers input or from interactions
    (guest events create no customer), with the customer's attributes where known. Customers
    who asked to be forgotten are not here. -#}
with

customers as (
    select * from {{ ref('stg_customers') }}
),

interacting as (
    select distinct tenant_id, customer_id
    from {{ ref('int_interactions_retained') }}
    where customer_id is not null
),

erasures as (
    select distinct tenant_id, customer_id from {{ ref('stg_erasure_requests') }}
),

collected as (
    select
        coalesce(customers.tenant_id, interacting.tenant_id) as tenant_id,
        coalesce(customers.customer_id, interacting.customer_id) as customer_id,
        customers.country,
        customers.birth_date,
        customers.created_at,
        customers.customer_id is not null as is_in_customers_input,
        interacting.customer_id is not null as has_interactions
    from customers
    full outer join interacting
        on customers.tenant_id = interacting.tenant_id
            and customers.customer_id = interacting.customer_id
),

final as (
    select collected.*
    from collected
    anti join erasures
        on collected.tenant_id = erasures.tenant_id
            and collected.customer_id = erasures.customer_id
)

select * from final
