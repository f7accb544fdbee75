{#- Every row of the tenants input, typed, with the reason it is rejected (NULL = accepted).
    Settings left empty take the defaults of seeds/tenant_defaults.csv later, in tenant_settings. -#}
with

source as (
    select * from {{ source('inputs', 'tenants') }}
),

typed as (
    select
        _source_row,
        _load_error,
        _row_json as row_json,
        {{ clean_text('tenant_id') }} as tenant_id,
        lower({{ clean_text('mode') }}) as mode,
        {{ clean_text('k') }} as k_text,
        {{ parse_integer('k') }} as k,
        lower({{ clean_text('algorithm') }}) as algorithm,
        {{ clean_text('half_life_days') }} as half_life_days_text,
        {{ parse_number('half_life_days') }} as half_life_days
    from source
),

checked as (
    select
        *,
        case
            {{ common_rejection_checks(check_tenant=false) }}
            when mode not in ('on', 'freeze', 'off') then 'invalid mode'
            when k_text is not null and not coalesce(k between 1 and 1000, false)
                then 'invalid k'
            when algorithm not in ('auto', 'popularity', 'cooccurrence', 'als', 'ease')
                then 'invalid algorithm'
            when half_life_days_text is not null and not coalesce(half_life_days > 0, false)
                then 'invalid half_life_days'
        end as row_reason
    from typed
),

deduplicated as (
    select
        * exclude (row_reason),
        {{ duplicate_row_reason('row_reason') }} as duplicate_reason
    from checked
),

final as (
    select
        * exclude (duplicate_reason),
        {{ conflicting_key_reason('duplicate_reason', ['tenant_id']) }} as rejection_reason
    from deduplicated
)

select * exclude (k_text, half_life_days_text) from final
