{#- One row per tenant, shelf, rule (a rule key '<scope>:<rule_id>' or a built-in rule) and
    action: what the business rules did in this build. `removed`: candidates the rule took out
    of lists (the first rule that forbade each, in the documented order); `capped`: candidates
    over a category cap; `boosted`: candidates a boost rule raised; `withheld`: customers who
    got no list at all (consent, `nothing` rules, the nothing threshold). -#}
with

judged as (
    select * from {{ ref('list_candidates') }}
),

removals as (
    select * from {{ ref('list_cap_removals') }}
),

shelf_customers as (
    select * from {{ ref('customer_shelves') }}
),

decisions as (
    select
        tenant_id,
        shelf,
        regexp_replace(blocked_by, '^rule ', '') as rule,
        'removed' as action,
        count(*) as candidates,
        count(distinct customer_id) as customers
    from judged
    where blocked_by is not null
    group by all

    union all

    select
        tenant_id,
        shelf,
        regexp_replace(capped_by, '^rule ', '') as rule,
        'capped' as action,
        count(*) as candidates,
        count(distinct customer_id) as customers
    from removals
    group by all

    union all

    select
        judged.tenant_id,
        judged.shelf,
        boosted.rule_key as rule,
        'boosted' as action,
        count(*) as candidates,
        count(distinct judged.customer_id) as customers
    from judged
    cross join unnest(judged.boosted_by) as boosted (rule_key)
    where judged.blocked_by is null
    group by all

    union all

    select
        tenant_id,
        shelf,
        regexp_replace(withheld_by, '^rule ', '') as rule,
        'withheld' as action,
        0 as candidates,
        count(*) as customers
    from shelf_customers
    where withheld_by is not null
    group by all

    union all

    select
        tenant_id,
        shelf,
        'nothing threshold' as rule,
        'withheld' as action,
        0 as candidates,
        count(distinct customer_id) as customers
    from judged
    where is_below_threshold
    group by all
)

select * from decisions
