{#- One row per tenant and country (its customers' countries, and NULL for unknown): a visitor
    from there, someone the build does not know (a shopper who has not logged in, a customer
    the data has never seen). The columns of customer_profiles with nothing else known: no
    customer_id, age or attributes, no flags, consents given. The rules' customer conditions
    are evaluated on visitors too (rule_customer_matches), so that lists made for unknown
    people at query time obey them (customer_rule_states). -#}
with

countries as (
    select tenant_id, country from {{ ref('customer_profiles') }}
    where country is not null
    union
    select tenant_id, null as country from {{ ref('tenant_settings') }}
),

final as (
    select
        profiles.* replace (
            countries.tenant_id as tenant_id,
            countries.country as country,
            cast([] as varchar[]) as flags,
            true as has_personalization_consent,
            true as has_marketing_consent
        )
    from countries
    left join {{ ref('customer_profiles') }} as profiles on false
)

select * from final
