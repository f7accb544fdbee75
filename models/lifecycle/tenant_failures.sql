{#- One row per tenant this build fails, with why (docs/lifecycle.md, "Failures stay with their
    tenant"): its tenants row is rejected (a mode that is not on|freeze|off, a setting out of
    range, conflicting rows), a row of its rules is rejected, or the guard refuses one of its
    rules. A failed tenant is neither trained nor scored: it keeps serving its previous lists
    minus the rows today's rules forbid (tenant_plans' action hold), and recsql build exits
    with status 3. A rejected row that names no tenant, or a rule for every tenant ('*'),
    still fails the whole build (tests no_rejected_rows). -#}
with

tenants as (
    select tenant_id from {{ ref('tenant_settings') }}
),

problems as (
    select
        tenant_id,
        'its tenants row is rejected: ' || rejection_reason || ' in ' || row_json as problem
    from {{ ref('stg_tenants_validated') }}
    where rejection_reason is not null
    union all
    select
        tenant_id,
        'its rule ' || coalesce('''' || rule_id || '''', 'row') || ' is rejected: '
        || rejection_reason || ' in ' || row_json as problem
    from {{ ref('stg_rules_validated') }}
    where rejection_reason is not null and tenant_id <> '*'
    union all
    select scope as tenant_id, 'the guard refused its ' || refusal as problem
    from {{ ref('rules_guarded') }}
    where refusal is not null
),

final as (
    select
        problems.tenant_id,
        string_agg(problems.problem, '; ' order by problems.problem) as reason
    from problems
    semi join tenants on problems.tenant_id = tenants.tenant_id
    group by problems.tenant_id
)

select * from final
