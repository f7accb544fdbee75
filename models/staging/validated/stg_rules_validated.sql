{#- Every row of the rules input, typed, with the reason it is rejected (NULL = accepted).
    tenant_id '*' means every tenant. A rejected rule fails the build (see the test in
    _staging__models.yml): a compliance rule must never be skipped quietly. -#}
with

source as (
    select * from {{ source('inputs', 'rules') }}
),

typed as (
    select
        _source_row,
        _load_error,
        _row_json as row_json,
        _row,
        _source_file,
        _source_line,
        {{ clean_text('tenant_id') }} as tenant_id,
        {{ clean_text('rule_id') }} as rule_id,
        lower({{ clean_text('action') }}) as action,
        {{ clean_text('customer_condition') }} as customer_condition,
        {{ clean_text('item_condition') }} as item_condition,
        {{ clean_text('value') }} as value_text,
        {{ parse_number('value') }} as value,
        {{ clean_text('reason') }} as reason,
        {{ clean_text('enabled') }} as enabled_text,
        coalesce({{ parse_boolean('enabled') }}, true) as is_enabled
    from source
),

checked as materialized (
    select
        *,
        case
            {{ common_rejection_checks(all_tenants_marker='*') }}
            when rule_id is null then 'empty rule_id'
            when action is null then 'empty action'
            when action not in ('exclude', 'include_only', 'boost', 'cap', 'nothing')
                then 'unknown action'
            when reason is null then 'empty reason'
            when value_text is not null and value is null then 'unparseable value'
            when action = 'cap' and not coalesce(value >= 1 and value = floor(value), false)
                then 'invalid value for cap'
            when action = 'boost' and not coalesce(value > 0, false)
                then 'invalid value for boost'
            when enabled_text is not null and {{ parse_boolean('enabled_text') }} is null
                then 'unparseable enabled'
        end as row_reason,
        {{ row_hash() }}
    from typed
),

deduplicated as (
    {{ duplicate_row_reason('checked', 'row_reason', 'duplicate_reason', 'as read') }}
),

keyed as (
    select
        * exclude (duplicate_reason),
        {{ conflicting_key_reason('duplicate_reason', ['tenant_id', 'rule_id']) }}
            as rejection_reason
    from deduplicated
),

final as (
    -- the text of a rejected row, for quarantined_rows (of an accepted one: never needed)
    select * exclude (_row) replace ({{ rejected_row_text('rejection_reason') }} as row_json)
    from keyed
)

select * exclude (value_text, enabled_text) from final
