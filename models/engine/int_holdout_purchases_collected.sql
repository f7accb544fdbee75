{#- One row per tenant, evaluated customer and item they bought in the holdout test window:
    the truth offline evaluation scores lists against. A customer is evaluated when they
    bought something before the holdout cutoff and something in the window. `was_bought_before`
    marks items they had bought before the cutoff (not in the "discover" truth). The lists are
    scored for a sample of the evaluated customers, at most the tenant's evaluation_customers,
    chosen by a hash of their id (`is_evaluated`); the repurchase model learns from every
    customer's rows. -#}
with

folds as (
    select * from {{ ref('int_folds_defined') }}
    where fold = 'holdout' and tenant_id in {{ training_tenants() }}
),

purchases as (
    select * from {{ ref('int_interactions_retained') }}
    where event_type = 'purchase' and customer_id is not null
),

trained as (
    select tenant_id, customer_id, item_id from {{ ref('int_interactions_weighted') }}
    where fold = 'holdout' and purchase_occasions > 0
),

tested as (
    select distinct purchases.tenant_id, purchases.customer_id, purchases.item_id
    from purchases
    inner join folds
        on purchases.tenant_id = folds.tenant_id
            and purchases.occurred_at >= folds.trained_before
),

collected as (
    select
        tested.tenant_id,
        tested.customer_id,
        tested.item_id,
        trained.item_id is not null as was_bought_before
    from tested
    left join trained
        on tested.tenant_id = trained.tenant_id
            and tested.customer_id = trained.customer_id
            and tested.item_id = trained.item_id
    where exists (
            select 1 from trained as history
            where history.tenant_id = tested.tenant_id and history.customer_id = tested.customer_id
        )
),

sampled as (
    select
        customers.tenant_id,
        customers.customer_id,
        row_number() over (
            partition by customers.tenant_id
            order by hash(customers.customer_id), customers.customer_id
        ) <= settings.evaluation_customers as is_evaluated
    from (select distinct tenant_id, customer_id from collected) as customers
    inner join {{ ref('tenant_settings') }} as settings
        on customers.tenant_id = settings.tenant_id
),

final as (
    select
        collected.*,
        sampled.is_evaluated
    from collected
    inner join sampled
        on collected.tenant_id = sampled.tenant_id
            and collected.customer_id = sampled.customer_id
)

select * from final
