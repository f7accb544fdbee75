{#- One row per tenant whose fresh lists (served_lists) break a compliance guarantee, restated
    from the inputs (macros/compliance.sql: erasure, inactive items, age limits, consents,
    exclude / include_only / nothing rules, geo restrictions), with why: counts per guarantee and
    an example item - never a customer id. Such a tenant fails the build: it keeps its published
    lists minus what today's rules forbid (held_tenants), and a version trained for it is
    `failed`. It would take a defect of recsql: the same guarantees on what is published stop the
    whole build (tests/dbt/compliance). -#}
{%- set served -%}
    select
        tenant_id,
        customer_id,
        item_id,
        algorithm,
        if(shelf = 'discover', 'recommendations', shelf) as list
    from {{ ref('served_lists') }}
{%- endset %}

with

violations as (
    select 'erasure' as guarantee, * from ({{ erased_customer_rows(served) }})
    union all
    select 'inactive items' as guarantee, * from ({{ inactive_item_rows(served) }})
    union all
    select 'age limits' as guarantee, * from ({{ age_limit_rows(served) }})
    union all
    select 'consents' as guarantee, * from ({{ consent_rows(served) }})
    union all
    select 'rules' as guarantee, * from ({{ rule_rows(served) }})
    union all
    select 'geo restrictions' as guarantee, * from ({{ geo_rows(served) }})
),

counted as (
    select
        tenant_id,
        guarantee,
        count(*) as violations,
        min(list || ' item ' || item_id || ': ' || detail) as example
    from violations
    group by tenant_id, guarantee
),

final as (
    select
        tenant_id,
        'a compliance check failed on its fresh lists: '
        || string_agg(
            guarantee || ' ' || violations || ' row(s), e.g. ' || example, '; '
            order by guarantee
        ) as reason
    from counted
    group by tenant_id
)

select * from final
