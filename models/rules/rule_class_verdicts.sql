{#- One row per tenant (not kept whole: kept_tenants), rule class
    (customer_rule_states.rule_class: people the rules treat alike, visitors included) and item
    the rules say something about for that class: the built-in or exclude rule that blocks it
    (`blocked_by`), the include_only rule it fails (`not_included_by`), the product of the
    boost rules raising it (`boost`, with their keys in `boosted_by`), and the cap rules
    counting it (`caps`). Every verdict of the build is made
    here, once per class and item, by the macros of recsql/rules/rules.sql; the lists, the
    visitor macros and the Python API look them up. Items the rules leave alone for a class
    (allowed, boost 1, no cap) have no row: most items, so the table holds the exceptions. -#}
with

classes as (
    -- one row per class; `age` is the class's age band, which is all the age limits compare
    select distinct
        tenant_id,
        rule_class,
        country,
        age_band as age,
        exclude_rules,
        include_only_rules,
        boosts,
        caps
    from {{ ref('customer_rule_states') }}
    -- a tenant kept whole keeps its published verdicts
    where tenant_id not in {{ kept_tenants() }}
),

items as (
    select * from {{ ref('item_rule_states') }}
),

verdicts as (
    select
        c.tenant_id,
        c.rule_class,
        i.item_id,
        i.category,
        recsql_blocked_by(c, i) as blocked_by,
        recsql_not_included_by(c, i) as not_included_by,
        recsql_boost(c, i) as boost,
        recsql_boosted_by(c, i) as boosted_by,
        recsql_caps(c, i) as caps
    from classes as c
    inner join items as i on c.tenant_id = i.tenant_id
),

final as (
    select * from verdicts
    where
        blocked_by is not null
        or not_included_by is not null
        or boost <> 1
        or len(caps) > 0
)

select * from final
