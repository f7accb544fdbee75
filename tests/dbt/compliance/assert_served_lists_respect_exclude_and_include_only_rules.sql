{#- Compliance: no served row pairs a customer and an item an enabled exclude rule matches;
    no customer an include_only rule matches is served an item that rule does not match; no
    customer a `nothing` rule matches is served anything. From the rule matches (what the
    guarded conditions selected), not from the rule states the lists were built with. -#}
with

served as (
    select tenant_id, customer_id, item_id, 'recommendations' as list
    from {{ ref('recommendations') }}
    union all
    select tenant_id, customer_id, item_id, 'buy_again' as list
    from {{ ref('buy_again') }}
),

rules as (
    select tenant_id || ':' || rule_id as rule_key, action
    from {{ ref('stg_rules') }}
    where is_enabled
),

customer_matches as (
    select matches.*, rules.action
    from {{ ref('rule_customer_matches') }} as matches
    inner join rules using (rule_key)
),

item_matches as (
    select * from {{ ref('rule_item_matches') }}
)

select served.*, customer_matches.rule_key, customer_matches.action
from served
inner join customer_matches using (tenant_id, customer_id)
where
    (
        customer_matches.action = 'exclude'
        and exists (
            select 1 from item_matches
            where item_matches.tenant_id = served.tenant_id
                and item_matches.item_id = served.item_id
                and item_matches.rule_key = customer_matches.rule_key
        )
    )
    or (
        customer_matches.action = 'include_only'
        and not exists (
            select 1 from item_matches
            where item_matches.tenant_id = served.tenant_id
                and item_matches.item_id = served.item_id
                and item_matches.rule_key = customer_matches.rule_key
        )
    )
    or customer_matches.action = 'nothing'
