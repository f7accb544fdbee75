{#- One row per tenant with published lists: the fingerprint of the inputs they were made from
    (tenant_input_fingerprints), the build that made them, its clock, and the version that
    scored them. Published (recsql_data.tenant_inputs) beside the lists, so the two are swapped
    together: the next build keeps the lists of a tenant whose inputs are still these and that
    no trigger makes due (tenant_plans: carried). A tenant this build serves fresh lists gets
    this build's row; a tenant it holds (carried, failed, left out by --tenants) keeps its
    published row, as it keeps its lists.
    With them, what lets a later build carry the tenant before staging its interactions
    (stg_carried_tenants): the sum of its raw interaction rows' hashes as read from
    Parquet (NULL when they were streamed), the interactions' part of its fingerprint, its
    latest retained interaction, and how many of its rows were rejected as in the future. -#}
with

fresh_tenants as (
    select tenant_id from {{ ref('tenant_plans') }}
    where action in ('train', 'score') and tenant_id not in {{ held_tenants() }}
),

latest as (
    select tenant_id, max(occurred_at) as interactions_until
    from {{ ref('int_interactions_retained') }}
    where tenant_id in (select tenant_id from fresh_tenants)
    group by tenant_id
),

future as (
    select tenant_id, count(*) as future_interactions
    from {{ ref('int_rejected_rows') }}
    where source_table = 'interactions' and reason = 'occurred_at in the future'
    group by tenant_id
),

fresh as (
    select
        fresh_tenants.tenant_id,
        fingerprints.input_fingerprint,
        '{{ build_id() }}' as lists_build_id,
        {{ build_time() }} as lists_as_of,
        models.version as lists_version,
        hashed.raw_rows_hash as raw_interactions_hash,
        fingerprints.interactions_hash,
        latest.interactions_until,
        coalesce(future.future_interactions, 0) as future_interactions
    from fresh_tenants
    inner join {{ ref('tenant_input_fingerprints') }} as fingerprints
        on fresh_tenants.tenant_id = fingerprints.tenant_id
    inner join {{ ref('active_models') }} as models
        on fresh_tenants.tenant_id = models.tenant_id
    left join {{ ref('stg_interactions_hashed') }} as hashed
        on fresh_tenants.tenant_id = hashed.tenant_id
    left join latest on fresh_tenants.tenant_id = latest.tenant_id
    left join future on fresh_tenants.tenant_id = future.tenant_id
),

carried as (
    {{ previous_rows(
        'tenant_inputs',
        [
            'tenant_id', 'input_fingerprint', 'lists_build_id', 'lists_as_of', 'lists_version',
            'raw_interactions_hash', 'interactions_hash', 'interactions_until',
            'future_interactions'
        ],
        'fresh'
    ) }}
)

select * from fresh
union all
select * from carried
