{#- One row per tenant (not 'off'), customer (not erased) and shelf: whether the customer gets
    the shelf and, if not, why (steps 1 and 2 of the rule order, plus `nothing` rules):
    - discover ("recommendations", a push list): not without marketing consent; without
      personalization consent only popular items, or nothing if the tenant's no_consent_list
      says so;
    - buy_again: personal by nature, so not without personalization consent;
    - new_for_you (new items like what the customer bought, a push list): not without
      marketing consent, nor without personalization consent;
    - none for a customer a `nothing` rule matches. -#}
with

customers as (
    select * from {{ ref('customer_rule_states') }}
    where not is_visitor
),

settings as (
    select tenant_id, no_consent_list from {{ ref('tenant_settings') }}
    where mode <> 'off'
),

shelves as (
    select unnest(['discover', 'buy_again', 'new_for_you']) as shelf
),

final as (
    select
        customers.tenant_id,
        customers.customer_id,
        shelves.shelf,
        customers.has_personalization_consent as is_personalized,
        case
            when customers.nothing_rule is not null then 'rule ' || customers.nothing_rule
            when
                shelves.shelf in ('discover', 'new_for_you')
                and not customers.has_marketing_consent
                then 'no marketing consent'
            when
                not customers.has_personalization_consent
                and (shelves.shelf <> 'discover' or settings.no_consent_list = 'nothing')
                then 'no personalization consent'
        end as withheld_by
    from customers
    inner join settings on customers.tenant_id = settings.tenant_id
    cross join shelves
)

select * from final
