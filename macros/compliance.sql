{#- The compliance guarantees on customers' lists, restated from the inputs independently of
    the models that apply them. Each check takes `served` - a query with one row per served
    (tenant_id, customer_id, item_id, algorithm, list) - and returns the rows that break it:
    tenant_id, list, customer_id, item_id, detail. Used twice: on the fresh lists of each
    tenant (lists/tenant_compliance_failures: a tenant whose rows break one fails, and keeps
    its published lists), and as the release gates of tests/dbt/compliance on what is
    published (a failure there stops the build). -#}

{#- The published rows of the three customer lists, as the checks take them. -#}
{% macro customer_lists() -%}
    select tenant_id, customer_id, item_id, algorithm, 'recommendations' as list
    from {{ ref('recommendations') }}
    union all
    select tenant_id, customer_id, item_id, algorithm, 'buy_again' as list
    from {{ ref('buy_again') }}
    union all
    select tenant_id, customer_id, item_id, algorithm, 'new_for_you' as list
    from {{ ref('new_for_you') }}
{%- endmacro %}

{#- A customer who asked to be forgotten has no row. -#}
{% macro erased_customer_rows(served) -%}
    select
        served.tenant_id, served.list, served.customer_id, served.item_id,
        'erased customer' as detail
    from ({{ served }}) as served
    semi join {{ ref('stg_erasure_requests') }} as erased
        on served.tenant_id = erased.tenant_id and served.customer_id = erased.customer_id
{%- endmacro %}

{#- An inactive item (history only) is offered to no one. -#}
{% macro inactive_item_rows(served) -%}
    select
        served.tenant_id, served.list, served.customer_id, served.item_id,
        'inactive item' as detail
    from ({{ served }}) as served
    inner join {{ ref('stg_items') }} as items
        on served.tenant_id = items.tenant_id and served.item_id = items.item_id
    where not items.is_active
{%- endmacro %}

{#- No age-limited item goes to a customer under the limit or of unknown age (ages at the build
    time, from the customers input). -#}
{% macro age_limit_rows(served) -%}
    select
        served.tenant_id, served.list, served.customer_id, served.item_id,
        'min_age ' || items.min_age || ', born ' || coalesce(customers.birth_date::varchar, '?')
            as detail
    from ({{ served }}) as served
    inner join {{ ref('stg_items') }} as items
        on served.tenant_id = items.tenant_id and served.item_id = items.item_id
    left join {{ ref('stg_customers') }} as customers
        on served.tenant_id = customers.tenant_id and served.customer_id = customers.customer_id
    where
        items.min_age is not null
        and (
            customers.birth_date is null
            or customers.birth_date > cast({{ build_time() }} as date) - to_years(items.min_age)
        )
{%- endmacro %}

{#- The latest consent of each customer (where rows share the latest time, each consent its more
    restrictive value) is obeyed: without marketing consent, no discover or new-for-you (push)
    list; without personalization consent, no buy-again or new-for-you list and no
    personalized discover row (only popularity, or nothing where the tenant's no_consent_list
    says so). -#}
{% macro consent_rows(served) -%}
    select
        served.tenant_id, served.list, served.customer_id, served.item_id,
        case
            when not latest.has_marketing_consent then 'no marketing consent'
            else 'no personalization consent'
        end || ' (' || served.algorithm || ')' as detail
    from ({{ served }}) as served
    inner join (
        select
            consents.tenant_id,
            consents.customer_id,
            bool_and(consents.has_personalization_consent) as has_personalization_consent,
            bool_and(consents.has_marketing_consent) as has_marketing_consent
        from {{ ref('stg_consents') }} as consents
        where
            -- of the tenants served: a few on a night that carries the others
            consents.tenant_id in (select tenant_id from ({{ served }}))
            and consents.updated_at is not distinct from (
                select max(later.updated_at) from {{ ref('stg_consents') }} as later
                where later.tenant_id = consents.tenant_id
                    and later.customer_id = consents.customer_id
            )
        group by consents.tenant_id, consents.customer_id
    ) as latest
        on served.tenant_id = latest.tenant_id and served.customer_id = latest.customer_id
    inner join {{ ref('tenant_settings') }} as settings
        on served.tenant_id = settings.tenant_id
    where
        (served.list = 'buy_again' and not latest.has_personalization_consent)
        or (
            served.list = 'new_for_you'
            and not (latest.has_marketing_consent and latest.has_personalization_consent)
        )
        or (
            served.list = 'recommendations'
            and (
                not latest.has_marketing_consent
                or (
                    not latest.has_personalization_consent
                    and (
                        served.algorithm not in ('popularity', 'trending')
                        or settings.no_consent_list = 'nothing'
                    )
                )
            )
        )
{%- endmacro %}

{#- No row pairs a customer and an item an enabled exclude rule matches; no customer an
    include_only rule matches is served an item that rule does not match; no customer a
    `nothing` rule matches is served anything. From the rule matches (what the guarded
    conditions selected), not from the rule states the lists were built with. -#}
{% macro rule_rows(served) -%}
    select
        served.tenant_id, served.list, served.customer_id, served.item_id,
        customer_matches.action || ' rule ' || customer_matches.rule_key as detail
    from ({{ served }}) as served
    inner join (
        select matches.tenant_id, matches.customer_id, matches.rule_key, rules.action
        from {{ ref('rule_customer_matches') }} as matches
        inner join {{ ref('stg_rules') }} as rules
            on matches.rule_key = rules.tenant_id || ':' || rules.rule_id
        where rules.is_enabled
    ) as customer_matches
        on served.tenant_id = customer_matches.tenant_id
            and served.customer_id = customer_matches.customer_id
    where
        customer_matches.action = 'nothing'
        or customer_matches.action = if(
            exists (
                select 1 from {{ ref('rule_item_matches') }} as item_matches
                where item_matches.tenant_id = served.tenant_id
                    and item_matches.item_id = served.item_id
                    and item_matches.rule_key = customer_matches.rule_key
            ),
            'exclude',
            'include_only'
        )
{%- endmacro %}

{#- No item is offered where it may not be sold: an item-level restriction decides for its item
    and country (any "not allowed" wins); otherwise a category-level one decides; a customer
    of unknown country gets no item that is not allowed in some country. `popular` (optional):
    the popular lists per country, checked too. -#}
{% macro geo_rows(served, popular=none) -%}
    with

    -- the tenants the checked rows are of: a few on a night that carries the others
    tenants as (
        select tenant_id from ({{ served }})
        {%- if popular %}
            union
            select tenant_id from {{ popular }}
        {%- endif %}
    ),

    restrictions as (
        select * from {{ ref('stg_item_restrictions') }}
        where tenant_id in (select tenant_id from tenants)
    ),

    items as (
        select tenant_id, item_id, category from {{ ref('stg_items') }}
        where tenant_id in (select tenant_id from tenants)
    ),

    -- the effective verdict per item and country: item-level rows decide, else category-level
    effective as (
        select
            items.tenant_id,
            items.item_id,
            countries.country,
            coalesce(
                (
                    select bool_and(r.is_allowed) from restrictions as r
                    where r.tenant_id = items.tenant_id and r.item_id = items.item_id
                        and r.country = countries.country
                ),
                (
                    select bool_and(r.is_allowed) from restrictions as r
                    where r.tenant_id = items.tenant_id and r.item_id is null
                        and r.category = items.category and r.country = countries.country
                ),
                true
            ) as is_allowed
        from items
        inner join (select distinct tenant_id, country from restrictions) as countries
            on items.tenant_id = countries.tenant_id
    ),

    -- only an item some country forbids can break the rule: the served rows of the others
    -- need no customer's country
    restricted as (
        select distinct tenant_id, item_id from effective where not is_allowed
    ),

    offers as (
        select
            served.list, served.tenant_id, served.customer_id, served.item_id,
            customers.country, items.category
        from ({{ served }}) as served
        semi join restricted
            on served.tenant_id = restricted.tenant_id and served.item_id = restricted.item_id
        inner join {{ ref('customer_profiles') }} as customers
            on served.tenant_id = customers.tenant_id
                and served.customer_id = customers.customer_id
        inner join items
            on served.tenant_id = items.tenant_id and served.item_id = items.item_id
        {% if popular %}
            union all
            select
                'popular_items' as list, popular.tenant_id, null as customer_id,
                popular.item_id, popular.country, items.category
            from {{ popular }} as popular
            semi join restricted
                on popular.tenant_id = restricted.tenant_id
                    and popular.item_id = restricted.item_id
            inner join items
                on popular.tenant_id = items.tenant_id and popular.item_id = items.item_id
            where popular.country is not null
        {% endif %}
    ),

    verdicts as (
        select
            offers.*,
            (
                select effective.is_allowed from effective
                where effective.tenant_id = offers.tenant_id
                    and effective.item_id = offers.item_id
                    and effective.country = offers.country
            ) as is_allowed_here,
            exists(
                select 1 from effective
                where effective.tenant_id = offers.tenant_id
                    and effective.item_id = offers.item_id
                    and not effective.is_allowed
            ) as is_restricted_somewhere
        from offers
    )

    select
        tenant_id, list, customer_id, item_id,
        'geo restriction (' || coalesce(country, 'country unknown') || ')' as detail
    from verdicts
    where
        is_allowed_here = false
        or (country is null and is_restricted_somewhere)
{%- endmacro %}

{#- Whether the JSON text `row_json` names the customer `customer_id`: their id, as written in
    JSON (escaped, without the quotes), as a whole word - `c9` is not in `c90` or `xc9`. What
    the quarantine blanks (quarantined_rows) and what the erasure gate looks for there. -#}
{% macro names_customer(row_json, customer_id) -%}
    (
        contains({{ row_json }}, trim(to_json({{ customer_id }})::varchar, '"'))
        and regexp_matches(
            {{ row_json }},
            '(^|[^A-Za-z0-9_])'
            || regexp_escape(trim(to_json({{ customer_id }})::varchar, '"'))
            || '($|[^A-Za-z0-9_])'
        )
    )
{%- endmacro %}
