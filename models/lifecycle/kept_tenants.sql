{#- One row per tenant whose published rows this build keeps whole: the served file holds them
    as the build would make them again, so the serving models leave the tenant out (macro
    rejudged_tenants) and the publication keeps its rows of every table but those every build
    makes afresh - rule states, shelves, what the rules and the evaluation did in this build
    (recsql/build/publish.py, Kept; docs/lifecycle.md, "Kept whole"). A tenant is kept whole
    when it is held having been carried before its interactions were staged
    (stg_carried_tenants: every input, its settings, the code and the version serving it are
    those its published lists were made from, and no trigger fires), and what today's rules
    make of its people is what they made of them when those lists were made:
    - its rows of customer_rule_states, but the customers' `age`, are the published ones - the
      same rule classes, consents, matched rules and sustainability averages (a birthday that
      reaches an age limit, or a customer condition on age, changes them; a birthday alone
      changes only the age, which is published afresh);
    - no rule that applies to it reads the clock (a condition calling current_date).
    Its verdicts, shelves, item states, and therefore its lists - carried lists minus what
    today's rules forbid - are then the published ones. -#}
{{ config(materialized='table') }}
{%- set columns = [
    'tenant_id', 'customer_id', 'is_visitor', 'country', 'has_personalization_consent',
    'has_marketing_consent', 'exclude_rules', 'include_only_rules', 'boosts', 'caps',
    'nothing_rule', 'sustainability_average', 'age_band', 'rule_class'
] -%}
with

held as (
    select plans.tenant_id
    from {{ ref('tenant_plans') }} as plans
    semi join {{ ref('stg_carried_tenants') }} as carried on plans.tenant_id = carried.tenant_id
    where plans.action = 'hold'
),

-- the rules (of the tenant, or of every tenant: '*') whose verdicts move with the clock
clock_rules as (
    select scope from {{ ref('rules_guarded') }}
    where
        refusal is null
        and (
            lower(customer_condition) like '%current_date%'
            or lower(item_condition) like '%current_date%'
        )
),

today as (
    select tenant_id, count(*) as n, sum(hash({{ columns | join(', ') }})::hugeint) as h
    from {{ ref('customer_rule_states') }}
    where tenant_id in (select tenant_id from held)
    group by tenant_id
),

published as (
    select tenant_id, count(*) as n, sum(hash({{ columns | join(', ') }})::hugeint) as h
    from (
        {{ published_rows(
            'customer_rule_states', columns, ref('customer_rule_states'),
            '(select tenant_id from held)'
        ) }}
    )
    group by tenant_id
),

final as (
    select held.tenant_id
    from held
    inner join today on held.tenant_id = today.tenant_id
    inner join published
        on held.tenant_id = published.tenant_id
            and today.n = published.n
            and today.h = published.h
    anti join clock_rules on clock_rules.scope in (held.tenant_id, '*')
)

select * from final
