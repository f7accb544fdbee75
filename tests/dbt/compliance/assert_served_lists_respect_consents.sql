{#- Compliance: the latest consent of each customer (consents input; where rows share the
    latest time, each consent its more restrictive value) is obeyed: without marketing consent, no discover (push) list; without
    personalization consent, no buy-again list and no personalized discover row (only
    popularity, or nothing where the tenant's no_consent_list says so). -#}
with

latest as (
    select
        tenant_id,
        customer_id,
        bool_and(has_personalization_consent) as has_personalization_consent,
        bool_and(has_marketing_consent) as has_marketing_consent
    from {{ ref('stg_consents') }} as consents
    where
        updated_at is not distinct from (
            select max(later.updated_at) from {{ ref('stg_consents') }} as later
            where later.tenant_id = consents.tenant_id
                and later.customer_id = consents.customer_id
        )
    group by tenant_id, customer_id
),

settings as (
    select tenant_id, no_consent_list from {{ ref('tenant_settings') }}
)

select 'recommendations' as list, r.tenant_id, r.customer_id, r.item_id, r.algorithm
from {{ ref('recommendations') }} as r
inner join latest using (tenant_id, customer_id)
inner join settings using (tenant_id)
where
    not latest.has_marketing_consent
    or (
        not latest.has_personalization_consent
        and (r.algorithm not in ('popularity', 'trending') or settings.no_consent_list = 'nothing')
    )

union all

select 'buy_again' as list, b.tenant_id, b.customer_id, b.item_id, b.algorithm
from {{ ref('buy_again') }} as b
inner join latest using (tenant_id, customer_id)
where not latest.has_personalization_consent
