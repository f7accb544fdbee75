{#- One row per tenant and customer known from the customers input or from interactions
    (guest events create no customer), with the customer's attributes where known. Customers
    who asked to be forgotten are not here. A tenant carried before its interactions were
    staged (stg_carried_tenants) knows the customers its published file knew
    (customer_rule_states): its interactions, customers input and erasure requests are those
    they were known from. -#}
with

customers as (
    select * from {{ ref('stg_customers') }}
),

interacting as (
    select distinct tenant_id, customer_id
    from {{ ref('int_interactions_retained') }}
    where customer_id is not null
    union all
    select tenant_id, customer_id
    from (
        {{ published_rows(
            'customer_rule_states', ['tenant_id', 'customer_id', 'is_visitor'],
            '(select tenant_id, customer_id, false as is_visitor from customers)',
            unstaged_tenants()
        ) }}
    )
    where not is_visitor
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
        customers.created_at
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
