{#- One row per tenant: what this build does for it (docs/lifecycle.md).
    - off: nothing is trained or served;
    - hold: nothing is trained or scored; the tenant keeps serving the lists of the published
      file, minus the rows today's rules forbid (carried_rows) - a tenant left out by
      `recsql build --tenants` (not_selected), or one this build fails (failed:
      tenant_failures says why);
    - train: a new version is fitted — the tenant has no stored version yet (first_version), an
      erasure request arrived since its version was trained (erasure: its stored model was
      fitted on the erased customer's data; frozen tenants too), --retrain all (retrain_all),
      or, for a tenant `on`, a trigger fired: the version is retrain_every_days old (age), the
      interactions since its data_until make retrain_new_data_share of those it was trained on
      (new_data), or the item popularity of the last trending_days moved retrain_drift away from
      that of the version's last trending_days (drift: total variation distance of the shares
      of distinct buyers per item);
    - score: the active version's stored model serves on today's histories — a version an
      operator promoted or pinned since the last build (operator: recsql models), a pinned
      tenant (pinned: no automatic training until unpinned), frozen, the tenant's candidate is
      judged by the promotion gate this build (promotion: promotion_min_customers customers
      bought after its data; promotion_judgements) or still waits for enough of them
      (awaiting_judgement: no automatic training meanwhile), --retrain none (retrain_none), or
      no trigger fired (not_due).
    A version trained for a tenant's first version or for an erasure is active at once
    (new_version_status 'active'); any other is a candidate, judged by the promotion gate at a
    later build; a candidate still waiting when a new version is trained is rejected.
    A tenant with no interactions since its version's data_until is never due by new_data or
    drift. Every time is the build's clock (build_time: --as-of).
    A tenant to score (but not for the promotion gate or an operator's request) whose inputs
    are those its published lists were made from (tenant_input_fingerprints against the
    published tenant_inputs), by the version that serves it now, is held instead: `carried`,
    it keeps those lists minus the rows today's rules forbid - the lists scoring would make
    again, without the work. A tenant carried before its interactions were staged
    (stg_carried_tenants: the same decision, macro plan_trigger, taken from its raw rows) has
    no interactions in this build: it is held (`is_unstaged`), and its measures are those of a
    tenant with no new interaction, which it is. -#}
with

settings as (
    select
        tenant_id, mode, trending_days, keep_versions, retrain_every_days,
        retrain_new_data_share, retrain_drift, promotion_min_customers
    from {{ ref('tenant_settings') }}
),

-- the candidate awaiting the promotion gate, and how many customers bought after its data
candidates as (
    select
        candidates.tenant_id,
        candidates.version as candidate_version,
        candidates.data_until as candidate_data_until,
        count(distinct retained.customer_id) as window_customers
    from {{ source('lifecycle_state', 'candidate_versions') }} as candidates
    left join {{ ref('int_interactions_retained') }} as retained
        on candidates.tenant_id = retained.tenant_id
            and candidates.data_until < retained.occurred_at
            and retained.event_type = 'purchase'
    group by all
),

active as (
    select * from {{ source('lifecycle_state', 'active_versions') }}
    where is_stored
),

-- the inputs each tenant's published lists were made from (models/serving/tenant_inputs)
published as (
    select * from {{ source('published', 'tenant_inputs') }}
),

interactions as (
    select tenant_id, item_id, occurred_at, event_type, customer_id, session_id
    from {{ ref('int_interactions_retained') }}
),

erasures as (
    select
        tenant_id,
        count(*) as erasures,
        list(request_key order by request_key) as erasure_keys
    from {{ ref('erasure_removals') }}
    group by tenant_id
),

new_data as (
    select
        active.tenant_id,
        count(interactions.tenant_id) filter (
            where interactions.occurred_at > active.data_until
        ) as new_interactions,
        max(interactions.occurred_at) as latest_at
    from active
    left join interactions on active.tenant_id = interactions.tenant_id
    group by active.tenant_id
),

-- distinct buyers per item in the trending_days up to the version's data and up to today's
windows as (
    select active.tenant_id, 'version' as window_name, active.data_until as window_end
    from active
    union all
    select tenant_id, 'today' as window_name, latest_at as window_end from new_data
),

buyers as (
    select
        windows.tenant_id,
        windows.window_name,
        interactions.item_id,
        count(
            distinct coalesce(interactions.customer_id, 'session:' || interactions.session_id)
        ) as buyers
    from windows
    inner join settings on windows.tenant_id = settings.tenant_id
    inner join interactions
        on windows.tenant_id = interactions.tenant_id
            and interactions.event_type = 'purchase'
            and windows.window_end >= interactions.occurred_at
            and interactions.occurred_at > windows.window_end - to_days(settings.trending_days)
    group by all
),

shares as (
    select *, buyers / sum(buyers) over (partition by tenant_id, window_name) as share
    from buyers
),

drift as (
    select
        coalesce(version.tenant_id, today.tenant_id) as tenant_id,
        -- total variation distance: half the summed absolute differences of the shares
        0.5 * sum(abs(coalesce(version.share, 0) - coalesce(today.share, 0))) as drift
    from (select * from shares where window_name = 'version') as version
    full join (select * from shares where window_name = 'today') as today
        on version.tenant_id = today.tenant_id and version.item_id = today.item_id
    group by all
),

measured as (
    select
        settings.*,
        active.version,
        active.is_pinned,
        active.operator_request_id,
        active.operator_action,
        active.operator_why,
        date_diff('second', active.trained_at, {{ build_time() }}) / 86400.0 as age_days,
        coalesce(new_data.new_interactions, 0) as new_interactions,
        coalesce(new_data.new_interactions, 0) / greatest(active.interactions, 1) as new_share,
        coalesce(drift.drift, 0) as drift,
        coalesce(erasures.erasures, 0) as erasures,
        coalesce(erasures.erasure_keys, []::varchar[]) as erasure_keys,
        -- a request the version's data did not leave out (its keys; a version of an older
        -- recsql has only their number)
        {{ has_new_erasures('active', 'erasures.erasure_keys', 'erasures.erasures') }}
            as has_new_erasures,
        candidates.candidate_version,
        candidates.candidate_data_until,
        candidates.window_customers,
        failures.reason as failure,
        published.lists_build_id,
        coalesce(
            published.input_fingerprint = fingerprints.input_fingerprint
            and published.lists_version = active.version,
            false
        ) as is_unchanged
    from settings
    left join active on settings.tenant_id = active.tenant_id
    left join candidates on settings.tenant_id = candidates.tenant_id
    left join new_data on settings.tenant_id = new_data.tenant_id
    left join drift on settings.tenant_id = drift.tenant_id
    left join erasures on settings.tenant_id = erasures.tenant_id
    left join {{ ref('tenant_failures') }} as failures on settings.tenant_id = failures.tenant_id
    left join published on settings.tenant_id = published.tenant_id
    left join {{ ref('tenant_input_fingerprints') }} as fingerprints
        on settings.tenant_id = fingerprints.tenant_id
),

decided as (
    select *, {{ plan_trigger() }} as trigger
    from measured
),

carrying as (
    select
        *,
        is_unchanged
        and operator_request_id is null
        and trigger in {{ carried_triggers() }}
            as carried,
        -- carried before its interactions were staged: it has none in this build, so it is
        -- held whatever the measures (tests/dbt/assert_tenants_carried_before_staging_are_held)
        tenant_id in (select tenant_id from {{ ref('stg_carried_tenants') }})
            as is_unstaged
    from decided
),

final as (
    select
        tenant_id,
        mode,
        keep_versions,
        version as active_version,
        case
            when trigger = 'off' then 'off'
            when trigger in ('not_selected', 'failed') or carried or is_unstaged then 'hold'
            when
                trigger in (
                    'operator',
                    'pinned',
                    'frozen',
                    'promotion',
                    'awaiting_judgement',
                    'retrain_none',
                    'not_due'
                )
                then 'score'
            else 'train'
        end as action,
        trigger,
        carried,
        is_unstaged,
        case
            when trigger in ('first_version', 'erasure') then 'active'
            when trigger in ('retrain_all', 'age', 'new_data', 'drift') then 'candidate'
        end as new_version_status,
        case trigger
            when 'off' then 'switched off: nothing trained or served'
            when 'not_selected'
                then 'not in --tenants: serves the lists it was published with'
            when 'failed'
                then failure || '; serves the lists it was published with, minus the rows '
                    || 'today''s rules forbid'
            when 'first_version' then 'no stored version yet'
            when 'erasure'
                then 'an erasure request since version ' || version
                    || ': its stored model was fitted on the erased data'
            when 'operator'
                then 'version ' || version || ' '
                    || if(operator_action = 'pin', 'pinned', 'promoted') || ' by the operator: '
                    || operator_why
            when 'pinned'
                then 'pinned to version ' || version
                    || ': no automatic training until unpinned'
            when 'frozen' then 'frozen: served by version ' || version
            when 'retrain_all' then '--retrain all'
            when 'promotion'
                then 'candidate ' || candidate_version || ' judged against version ' || version
                    || ': ' || window_customers || ' customers bought after its data '
                    || '(promotion_min_customers ' || promotion_min_customers || ')'
            when 'awaiting_judgement'
                then 'candidate ' || candidate_version || ' awaits the promotion gate: '
                    || window_customers || ' of promotion_min_customers '
                    || promotion_min_customers || ' customers have bought after its data'
            when 'retrain_none' then '--retrain none: served by version ' || version
            else concat_ws(
                    ', ',
                    printf(
                        'version %s is %.1f days old (retrain_every_days %g)',
                        version, age_days, retrain_every_days
                    ),
                    printf(
                        '%d new interactions, %.1f%% of its data (retrain_new_data_share %g)',
                        new_interactions, 100 * new_share, retrain_new_data_share
                    ),
                    printf('drift %.3f (retrain_drift %g)', drift, retrain_drift)
                )
        end as reason,
        -- an operator's request waits while the tenant is held
        if(trigger in ('not_selected', 'failed'), null, operator_request_id)
            as operator_request_id,
        operator_action,
        operator_why,
        -- the tenant's candidate awaiting the promotion gate (rejected if a version is trained)
        candidate_version,
        candidate_data_until,
        window_customers,
        -- the erasure requests of the tenant: what a version trained now leaves out
        erasures,
        erasure_keys,
        age_days,
        new_interactions,
        new_share,
        drift,
        lists_build_id
    from carrying
),

explained as (
    select
        * exclude (lists_build_id) replace (
            if(
                carried,
                reason || '; its inputs are those build ' || lists_build_id
                || ' made its lists from: it keeps them, minus the rows today''s rules forbid',
                reason
            ) as reason
        )
    from final
)

select * from explained
