{#- Compliance: a customer who asked to be forgotten has no row in any served list or in the
    customer rule states, and none of their interactions reached a model
    (macros/compliance.sql). -#}
with

traces as (
    select tenant_id, customer_id, 'customer_rule_states' as place
    from {{ ref('customer_rule_states') }}
    union all
    select tenant_id, customer_id, 'int_interactions_retained' as place
    from {{ ref('int_interactions_retained') }}
    union all
    select tenant_id, customer_id, 'int_interactions_weighted' as place
    from {{ ref('int_interactions_weighted') }}
)

select list as place, tenant_id, customer_id
from ({{ erased_customer_rows(customer_lists(ref('recommendations'), ref('buy_again'))) }})
union all
select traces.place, traces.tenant_id, traces.customer_id
from traces
semi join {{ ref('stg_erasure_requests') }} as erased
    on traces.tenant_id = erased.tenant_id and traces.customer_id = erased.customer_id
