{#- One row per tenant of the build (mode not off) and required input table (interactions,
    items): the rows that name the tenant (tenant_id as written), how many were accepted, the
    most common reason the others were rejected with an example value of the column the reason
    names, and whether the table is enough to build the tenant: at least one accepted row and
    an accepted share of at least the tenant's min_accepted_share.
    tests/dbt/assert_every_tenant_has_enough_accepted_input fails the build on each row that
    is not, with its `message`.
    A row that names no tenant being built (an empty tenant_id, a tenant the tenants input does
    not list, an unparseable CSV line) counts for no tenant; the message of a tenant without
    a row of its own mentions them. With no tenant at all (no tenants input, and no row that
    names one) the tenant checked is 'default', so that an input with no usable row fails. -#}
{%- set min_accepted_share = tenant_setting_definitions()
    | selectattr('name', 'equalto', 'min_accepted_share') | first -%}

with

settings as (
    select * from {{ ref('tenant_settings') }}
),

row_counts as (
    select * from {{ ref('input_row_counts') }}
),

rejected_rows as (
    select
        source_table,
        source_row,
        tenant_id,
        reason as rejection_reason,
        -- NULL for a row naming a customer who asked to be forgotten: never shown
        row_json
    from {{ ref('int_rejected_rows') }}
    where list_contains({{ required_input_tables() }}, source_table)
),

built_tenants as (
    select tenant_id, min_accepted_share from settings
    where mode <> 'off'
    union all
    select 'default' as tenant_id, {{ setting_default(min_accepted_share) }}
    where not exists (select 1 from settings)
),

required_tables as (
    select unnest({{ required_input_tables() }}) as source_table
),

counted as (
    -- per table, each tenant being built and (tenant_id NULL) all the rows that name none
    select
        row_counts.source_table,
        built_tenants.tenant_id,
        sum(row_counts.rows_read) as rows_read,
        sum(row_counts.rows_accepted) as rows_accepted
    from row_counts
    left join built_tenants on row_counts.tenant_id = built_tenants.tenant_id
    group by all
),

table_sizes as (
    select source_table, sum(rows_read) as table_rows
    from counted
    group by source_table
),

reasons as (
    select
        rejected_rows.source_table,
        built_tenants.tenant_id,
        rejected_rows.rejection_reason as reason,
        count(*) as reason_rows,
        first(
            rejected_rows.row_json order by rejected_rows.source_row nulls last
        ) filter (where rejected_rows.row_json is not null) as first_row_json
    from rejected_rows
    left join built_tenants on rejected_rows.tenant_id = built_tenants.tenant_id
    group by all
),

top_reasons as (
    select * from reasons
    qualify row_number() over (
            partition by source_table, tenant_id order by reason_rows desc, reason asc
        ) = 1
),

examples as (
    -- the first such row's value of the column the reason names: a word of the reason, or the
    -- word and _id ('unparseable occurred_at': occurred_at, 'item not in items': item_id);
    -- for a record the reader could not read, its text
    select
        *,
        case
            when reason in ('malformed csv line', 'invalid encoding') then 'text'
            else list_filter(
                    flatten(list_transform(
                        string_split(reason, ' '), lambda word: [word, word || '_id']
                    )),
                    lambda name: list_contains(json_keys(first_row_json), name)
                )[1]
        end as example_column
    from top_reasons
),

explained as (
    select
        source_table,
        tenant_id,
        reason,
        reason_rows,
        first_row_json ->> example_column as example,
        reason || ' (' || reason_rows || ')'
        || coalesce(', e.g. ''' || left(nullif(example, ''), 80) || '''', '') as explanation
    from examples
),

measured as (
    select
        built_tenants.tenant_id,
        required_tables.source_table,
        coalesce(table_sizes.table_rows, 0) as table_rows,
        coalesce(counted.rows_read, 0) as rows_read,
        coalesce(counted.rows_accepted, 0) as rows_accepted,
        counted.rows_accepted / counted.rows_read as accepted_share,
        built_tenants.min_accepted_share,
        tenant_reasons.reason as top_reason,
        tenant_reasons.reason_rows as top_reason_rows,
        tenant_reasons.example as top_reason_example,
        tenant_reasons.explanation as top_reason_explanation,
        coalesce(others.rows_read, 0) as other_rows,
        other_reasons.explanation as other_reason_explanation
    from built_tenants
    cross join required_tables
    left join table_sizes on required_tables.source_table = table_sizes.source_table
    left join counted
        on built_tenants.tenant_id = counted.tenant_id
            and required_tables.source_table = counted.source_table
    left join explained as tenant_reasons
        on built_tenants.tenant_id = tenant_reasons.tenant_id
            and required_tables.source_table = tenant_reasons.source_table
    left join counted as others
        on others.tenant_id is null and required_tables.source_table = others.source_table
    left join explained as other_reasons
        on other_reasons.tenant_id is null
            and required_tables.source_table = other_reasons.source_table
),

judged as (
    select
        *,
        rows_accepted > 0 and rows_accepted >= min_accepted_share * rows_read as is_sufficient
    from measured
),

final as (
    select
        *,
        'tenant ' || tenant_id || ': ' || rows_accepted || ' of ' || rows_read || ' '
        || source_table || ' accepted'
        || case
            when rows_accepted > 0 and not is_sufficient
                then ' (' || printf('%.1f', 100 * accepted_share) || '%, below min_accepted_share '
                    || min_accepted_share || ')'
            else ''
        end
        || case
            when top_reason is not null then ': ' || top_reason_explanation
            when rows_read > 0 then ''
            when table_rows = 0 then ': the ' || source_table || ' input has no rows'
            when other_rows = 0 then ': no ' || source_table || ' row names this tenant'
            else ': no ' || source_table || ' row names this tenant, and ' || other_rows
                || ' name no tenant being built: ' || other_reason_explanation
        end as message
    from judged
)

select * from final
