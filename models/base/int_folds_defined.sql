{#- One row per tenant and fold. Every engine model computes both folds in one pass:
    - 'holdout' trains on the events before the tenant's last `holdout_days` days and is tested
      on those days (offline evaluation, champion choice);
    - 'full' trains on every event (what is served).
    `reference_at` is the "now" of the fold, from which time decay is measured: the start of
    the test window for 'holdout', the tenant's latest event for 'full'. -#}
with

settings as (
    select tenant_id, holdout_days, half_life_days from {{ ref('tenant_settings') }}
),

latest as (
    select tenant_id, max(occurred_at) as last_event_at
    from {{ ref('int_interactions_retained') }}
    group by tenant_id
),

folds as (
    select
        latest.tenant_id,
        'full' as fold,
        latest.last_event_at as reference_at,
        cast('infinity' as timestamp) as trained_before,
        cast(null as timestamp) as tested_until,
        settings.half_life_days
    from latest
    inner join settings on latest.tenant_id = settings.tenant_id

    union all

    select
        latest.tenant_id,
        'holdout' as fold,
        latest.last_event_at - to_microseconds(
            cast(settings.holdout_days * 86400e6 as bigint)
        ) as reference_at,
        latest.last_event_at - to_microseconds(
            cast(settings.holdout_days * 86400e6 as bigint)
        ) as trained_before,
        latest.last_event_at as tested_until,
        settings.half_life_days
    from latest
    inner join settings on latest.tenant_id = settings.tenant_id
)

select * from folds
