{#- One row per tenant and customer (not erased), and one visitor per tenant and country
    (`is_visitor`, customer_id NULL: anyone the build does not know, visitor_profiles): what
    the business rules need to know about them: country, age and consents (customer_profiles),
    the rules whose customer_condition matches them by action (rule keys '<scope>:<rule_id>';
    boosts with their factor, caps with their size), and the spend-weighted average
    sustainability score of what they bought (the sustainability nudge compares items with it;
    for a tenant carried before its interactions were staged, the one its published file has).

    `rule_class` numbers, per tenant, the groups of people the rules treat alike: the same
    country, exclude, include_only, boost, cap and nothing rules, and the same `age_band` -
    the highest age limit (min_age) of the tenant's items their age reaches (-1: none; NULL:
    age unknown), which is all the age limits can tell apart. The verdict on an item depends
    only on the class (rule_class_verdicts), so it is made once per class, not per customer. -#}
with

profiles as (
    select * from {{ ref('customer_profiles') }}
    union all by name
    select * from {{ ref('visitor_profiles') }}
),

rules as (
    select
        tenant_id || ':' || rule_id as rule_key,
        action,
        value
    from {{ ref('stg_rules') }}
    where is_enabled
),

matches as (
    select matches.tenant_id, matches.customer_id, matches.country, rules.*
    from {{ ref('rule_customer_matches') }} as matches
    inner join rules on matches.rule_key = rules.rule_key
),

rule_lists as (
    select
        tenant_id,
        customer_id,
        case when customer_id is null then country end as visitor_country,
        coalesce(
            list(rule_key order by rule_key) filter (where action = 'exclude'), []
        ) as exclude_rules,
        coalesce(
            list(rule_key order by rule_key) filter (where action = 'include_only'), []
        ) as include_only_rules,
        coalesce(
            list({ 'rule_key': rule_key, 'factor': value } order by rule_key)
            filter (where action = 'boost'),
            []
        ) as boosts,
        coalesce(
            list({ 'rule_key': rule_key, 'cap': cast(value as integer) } order by rule_key)
            filter (where action = 'cap'),
            []
        ) as caps,
        min(rule_key) filter (where action = 'nothing') as nothing_rule
    from matches
    group by tenant_id, customer_id, visitor_country
),

age_limits as (
    select tenant_id, list(distinct min_age) as min_ages
    from {{ ref('stg_items') }}
    where min_age is not null
    group by tenant_id
),

spending as (
    -- rounded: the last bits of a sum depend on the order DuckDB's threads add in, and an item
    -- whose score equals the average would get the nudge in one build and not the next
    select
        purchases.tenant_id,
        purchases.customer_id,
        round(
            sum(
                coalesce(purchases.value, purchases.quantity * items.price, purchases.quantity)
                * items.sustainability_score
            )
            / nullif(
                sum(
                    coalesce(
                        purchases.value, purchases.quantity * items.price, purchases.quantity
                    )
                )
                filter (where items.sustainability_score is not null),
                0
            ),
            12
        ) as sustainability_average
    from {{ ref('int_interactions_retained') }} as purchases
    inner join {{ ref('stg_items') }} as items
        on purchases.tenant_id = items.tenant_id
            and purchases.item_id = items.item_id
    where purchases.event_type = 'purchase' and purchases.customer_id is not null
    group by purchases.tenant_id, purchases.customer_id
    -- a tenant carried before its interactions were staged: as its published file had it (its
    -- purchases and items are those it was computed from)
    union all
    select tenant_id, customer_id, sustainability_average
    from (
        {{ published_rows(
            'customer_rule_states',
            ['tenant_id', 'customer_id', 'is_visitor', 'sustainability_average'],
            '(select null::varchar as tenant_id, null::varchar as customer_id, '
            ~ 'false as is_visitor, null::double as sustainability_average)',
            unstaged_tenants()
        ) }}
    )
    where not is_visitor and sustainability_average is not null
),

states as (
    select
        profiles.tenant_id,
        profiles.customer_id,
        profiles.customer_id is null as is_visitor,
        profiles.country,
        profiles.age,
        profiles.has_personalization_consent,
        profiles.has_marketing_consent,
        coalesce(rule_lists.exclude_rules, []) as exclude_rules,
        coalesce(rule_lists.include_only_rules, []) as include_only_rules,
        coalesce(rule_lists.boosts, []) as boosts,
        coalesce(rule_lists.caps, []) as caps,
        rule_lists.nothing_rule,
        spending.sustainability_average,
        case
            when profiles.age is not null
                then coalesce(
                        list_max(list_filter(age_limits.min_ages, lambda m: m <= profiles.age)), -1
                    )
        end as age_band
    from profiles
    left join rule_lists
        on profiles.tenant_id = rule_lists.tenant_id
            and profiles.customer_id is not distinct from rule_lists.customer_id
            and (
                profiles.customer_id is not null
                or profiles.country is not distinct from rule_lists.visitor_country
            )
    left join spending
        on profiles.tenant_id = spending.tenant_id
            and profiles.customer_id = spending.customer_id
    left join age_limits on profiles.tenant_id = age_limits.tenant_id
),

final as (
    select
        *,
        dense_rank() over (
            partition by tenant_id
            order by
                country nulls first, age_band nulls first, exclude_rules, include_only_rules,
                boosts, caps, nothing_rule nulls first
        ) as rule_class
    from states
)

select * from final
