{#- A tenant whose interactions this build did not stage (stg_carried_tenants) has none in the
    build: it must keep its published lists - held, and carried unless it failed or --tenants
    left it out - never be trained or scored on the empty history. stg_carried_tenants decides
    as tenant_plans does (macro plan_trigger) from the measures such a tenant has, so this
    returns no rows; a row is a tenant for which the two disagree, and the build stops before
    it publishes. -#}
select plans.tenant_id, plans.action, plans.trigger, plans.carried
from {{ ref('stg_carried_tenants') }} as unstaged
inner join {{ ref('tenant_plans') }} as plans on unstaged.tenant_id = plans.tenant_id
where not (plans.action = 'hold' and (plans.carried or plans.trigger in ('failed', 'not_selected')))
