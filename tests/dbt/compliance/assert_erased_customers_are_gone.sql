{#- Compliance: a customer who asked to be forgotten has no row in any served list, in the
    customer rule states and shelves the macros read, or in what the engine read (the
    interactions retained and weighted, whose full fold is the published bought_items), and no
    quarantined row shows their id: as a whole word anywhere in its row_json
    (macros/compliance.sql for the lists). The publication checks every published table once
    more (recsql/build/publish.py: erased_customer_columns). -#}
with

erased as (
    select distinct tenant_id, customer_id from {{ ref('stg_erasure_requests') }}
),

traces as (
    select tenant_id, customer_id, 'customer_rule_states' as place
    from {{ ref('customer_rule_states') }}
    union all
    select tenant_id, customer_id, 'customer_shelves' as place
    from {{ ref('customer_shelves') }}
    union all
    select tenant_id, customer_id, 'int_interactions_retained' as place
    from {{ ref('int_interactions_retained') }}
    union all
    select tenant_id, customer_id, 'int_interactions_weighted' as place
    from {{ ref('int_interactions_weighted') }}
),

found as (
    select list as place, tenant_id
    from ({{ erased_customer_rows(customer_lists()) }})
    union all
    select traces.place, traces.tenant_id
    from traces
    semi join erased
        on traces.tenant_id = erased.tenant_id and traces.customer_id = erased.customer_id
    union all
    select 'quarantined_rows' as place, quarantined.tenant_id
    from {{ ref('quarantined_rows') }} as quarantined
    inner join erased on quarantined.tenant_id = erased.tenant_id
    where {{ names_customer('quarantined.row_json', 'erased.customer_id') }}
    union all
    -- a row that names no tenant, against every erased customer (apart from the join above:
    -- one join on "same tenant or no tenant" compared every row with every customer)
    select 'quarantined_rows' as place, quarantined.tenant_id
    from {{ ref('quarantined_rows') }} as quarantined
    cross join erased
    where
        quarantined.tenant_id is null
        and {{ names_customer('quarantined.row_json', 'erased.customer_id') }}
)

-- where and how many, never who: what a failing test prints stays free of the ids
select place, tenant_id, count(*) as erased_customer_rows
from found
group by place, tenant_id
