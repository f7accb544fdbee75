{#- Every row of the tenants input, typed, with the reason it is rejected (NULL = accepted).
    The settings - their types, choices, ranges and defaults - are recsql/contract.py's
    (tenant_setting_definitions). A setting left empty is NULL here; tenant_settings gives it
    its default. The first setting (in contract order) that fails its check is the reason. -#}
{%- set settings = tenant_setting_definitions() -%}
{%- set by_name = {} -%}
{%- for setting in settings -%}
    {%- do by_name.update({setting.name: setting}) -%}
{%- endfor -%}

with

source as (
    select * from {{ source('inputs', 'tenants') }}
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
        {% for setting in settings %}
            {{ clean_text(setting.name) }} as {{ setting.name }}_text,
            {{ parse_setting(setting) }} as {{ setting.name }}{% if not loop.last %},{% endif %}
        {% endfor %}
    from source
),

checked as materialized (
    select
        *,
        case
            {{ common_rejection_checks(check_tenant=false) }}
            {% for setting in settings %}
                when {{ setting.name }}_text is not null
                    and not coalesce({{ setting_is_allowed(setting) }}, false)
                    then 'invalid {{ setting.name }}'
                {% if setting.at_least %}
                    {%- set other = by_name[setting.at_least] %}
                    -- the values that will apply, defaults included
                    when coalesce({{ setting.name }}, {{ setting_default(setting) }})
                        < coalesce({{ other.name }}, {{ setting_default(other) }})
                        then 'invalid {{ setting.name }}'
                {% endif %}
            {% endfor %}
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
        {{ conflicting_key_reason('duplicate_reason', ['tenant_id']) }} as rejection_reason
    from deduplicated
),

final as (
    -- the text of a rejected row, for quarantined_rows (of an accepted one: never needed)
    select * exclude (_row) replace ({{ rejected_row_text('rejection_reason') }} as row_json)
    from keyed
)

select
    * exclude (
        {% for setting in settings %}
            {{ setting.name }}_text{% if not loop.last %},{% endif %}
        {% endfor %}
    )
from final
