{#- Fails for every tenant and required input table (interactions, items) with no accepted row,
    or with an accepted share below the tenant's min_accepted_share: its recommender would be
    empty, or built from a sliver of its data. `message` gives the counts and the most common
    reason with an example value; recsql build prints it. A tenant the build holds (failed, or
    left out by --tenants: tenant_plans) is not built, so not checked. -#}
select
    acceptance.tenant_id,
    acceptance.source_table,
    acceptance.message
from {{ ref('input_acceptance') }} as acceptance
where
    not acceptance.is_sufficient
    and acceptance.tenant_id not in (
        select plans.tenant_id from {{ ref('tenant_plans') }} as plans
        where plans.action = 'hold'
    )
