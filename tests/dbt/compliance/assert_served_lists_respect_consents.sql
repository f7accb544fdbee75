{#- Compliance: the latest consent of each customer (consents input; on a tie the more
    restrictive) is obeyed: without marketing consent, no discover (push) list; without
    personalization consent, no buy-again list and no personalized discover row (only
    popularity, or nothing where the tenant's no_consent_list says so). -#}
with

latest as (
    select tenant_id, customer_id, has_personalization_consent, has_marketing_consent
    from {{ ref('stg_consents') }}
    qualify row_number() over (
            partition by tenant_id, customer_id
            order by
                updated_at desc nulls last,
                has_personalization_consent asc,
                has_marketing_consent asc
        ) = 1
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
