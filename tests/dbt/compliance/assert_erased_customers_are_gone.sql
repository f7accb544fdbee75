{#- Compliance: a customer who asked to be forgotten has no row in any served list or in the
    customer rule states, and none of their interactions reached a model. -#}
with

erased as (
    select distinct tenant_id, customer_id from {{ ref('stg_erasure_requests') }}
),

traces as (
    select 'recommendations' as place, tenant_id, customer_id from {{ ref('recommendations') }}
    union all
    select 'buy_again' as place, tenant_id, customer_id from {{ ref('buy_again') }}
    union all
    select 'customer_rule_states' as place, tenant_id, customer_id
    from {{ ref('customer_rule_states') }}
    union all
    select 'int_interactions_retained' as place, tenant_id, customer_id
    from {{ ref('int_interactions_retained') }}
    union all
    select 'int_interactions_weighted' as place, tenant_id, customer_id
    from {{ ref('int_interactions_weighted') }}
)

select traces.*
from traces
semi join erased using (tenant_id, customer_id)
