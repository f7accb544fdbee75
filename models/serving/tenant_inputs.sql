{#- One row per tenant with published lists: the fingerprint of the inputs they were made from
    (tenant_input_fingerprints), the build that made them, its clock, and the version that
    scored them. Published (recsql_data.tenant_inputs) beside the lists, so the two are swapped
    together: the next build keeps the lists of a tenant whose inputs are still these and that
    no trigger makes due (tenant_plans: carried). A tenant this build serves fresh lists gets
    this build's row; a tenant it holds (carried, failed, left out by --tenants) keeps its
    published row, as it keeps its lists. -#}
with

fresh as (
    select
        plans.tenant_id,
        fingerprints.input_fingerprint,
        '{{ build_id() }}' as lists_build_id,
        {{ build_time() }} as lists_as_of,
        models.version as lists_version
    from {{ ref('tenant_plans') }} as plans
    inner join {{ ref('tenant_input_fingerprints') }} as fingerprints
        on plans.tenant_id = fingerprints.tenant_id
    inner join {{ ref('active_models') }} as models on plans.tenant_id = models.tenant_id
    where plans.action in ('train', 'score') and plans.tenant_id not in {{ held_tenants() }}
),

carried as (
    {{ previous_rows(
        'tenant_inputs',
        ['tenant_id', 'input_fingerprint', 'lists_build_id', 'lists_as_of', 'lists_version'],
        'fresh'
    ) }}
)

select * from fresh
union all
select * from carried
