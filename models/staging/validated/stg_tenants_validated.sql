{#- Every row of the tenants input, typed, with the reason it is rejected (NULL = accepted).
    Settings left empty take the defaults of seeds/tenant_defaults.csv later, in tenant_settings.
    Each setting is checked here; recsql/contract.py documents them. -#}
{%- set integer_settings = {
    'k': (1, 1000), 'candidates_n': (1, 1000), 'history_cap': (1, 1000),
    'min_support': (1, 1000000), 'similar_items_n': (1, 1000), 'trending_days': (1, 3650),
    'trending_baseline_days': (1, 3650), 'als_factors': (1, 1024), 'als_iterations': (1, 100),
    'ease_max_items': (1, 100000),
} -%}
{%- set positive_number_settings = [
    'half_life_days', 'holdout_days', 'als_alpha', 'ease_lambda',
] -%}
{%- set non_negative_number_settings = ['als_regularization', 'sustainability_nudge'] -%}
{#- Any number, or empty: -#}
{%- set number_settings = ['nothing_threshold'] -%}
{%- set text_columns = [] -%}
{%- for name in integer_settings.keys() | list + positive_number_settings
    + non_negative_number_settings + number_settings -%}
    {%- do text_columns.append(name ~ '_text') -%}
{%- endfor -%}
{%- set choice_settings = {
    'mode': ['on', 'freeze', 'off'],
    'algorithm': ['auto', 'popularity', 'cooccurrence', 'als', 'ease'],
    'similarity': ['jaccard', 'lift', 'cosine', 'count'],
    'no_consent_list': ['popular', 'nothing'],
} -%}

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
        {% for name in choice_settings %}
            lower({{ clean_text(name) }}) as {{ name }},
        {% endfor %}
        {% for name in integer_settings %}
            {{ clean_text(name) }} as {{ name }}_text,
            {{ parse_integer(name) }} as {{ name }},
        {% endfor %}
        {% for name in positive_number_settings + non_negative_number_settings
            + number_settings %}
            {{ clean_text(name) }} as {{ name }}_text,
            {{ parse_number(name) }} as {{ name }}{% if not loop.last %},{% endif %}
        {% endfor %}
    from source
),

checked as (
    select
        *,
        case
            {{ common_rejection_checks(check_tenant=false) }}
            {% for name, choices in choice_settings.items() %}
                when {{ name }} not in ('{{ choices | join("', '") }}')  -- noqa: LT05
                    then 'invalid {{ name }}'
            {% endfor %}
            {% for name, (low, high) in integer_settings.items() %}
                when {{ name }}_text is not null
                    and not coalesce({{ name }} between {{ low }} and {{ high }}, false)
                    then 'invalid {{ name }}'
            {% endfor %}
            {% for name in positive_number_settings %}
                when {{ name }}_text is not null and not coalesce({{ name }} > 0, false)
                    then 'invalid {{ name }}'
            {% endfor %}
            {% for name in non_negative_number_settings %}
                when {{ name }}_text is not null and not coalesce({{ name }} >= 0, false)
                    then 'invalid {{ name }}'
            {% endfor %}
            {% for name in number_settings %}
                when {{ name }}_text is not null and {{ name }} is null
                    then 'invalid {{ name }}'
            {% endfor %}
            when candidates_n < k then 'invalid candidates_n'
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

select * exclude ({{ text_columns | join(', ') }}) from final
