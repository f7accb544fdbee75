{#- Candidates by item-to-item co-occurrence for one fold: one row per tenant, customer and
    candidate item the customer has not bought. The candidate's score is the sum, over the
    items of the customer's capped history, of similarity(history item, candidate) x the
    history item's recency weight (0.5 ^ days since bought / half_life_days);
    `because_item_id` is the history item that contributed most (the explanation).
    - 'holdout' (int_holdout_cooccurrence_candidates): this build's similarities of the
      holdout fold, the top k of the evaluated customers (the offline evaluation);
    - 'full' (cooccurrence_candidates): the similarities of the tenant's active version, the
      top `candidates_n` of every customer (what the lists are made from), for the tenants
      whose lists are made from them (scored in this build, champion co-occurrence): the
      others' would be computed for nothing (39 s of a 20-million-interaction tenant). -#}
{% macro cooccurrence_candidates(fold) -%}
with

histories as (
    select * from {{ ref('int_customer_histories_capped') }}
    where fold = '{{ fold }}'
),

similarities as (
    {%- if fold == 'holdout' %}
    -- this build's evaluation
    select tenant_id, fold, item_id, similar_item_id, score from {{ ref('item_similarities') }}
    where fold = 'holdout'
    {%- else %}
    -- the similarities of the tenant's active version, where the lists use them: a tenant
    -- scored in this build whose version's champion is co-occurrence (list_candidates)
    select
        tenant_id, 'full' as fold, item_id, neighbour_item_id as similar_item_id,
        weight as score
    from {{ ref('active_item_neighbours') }}
    where
        algorithm = 'cooccurrence'
        and tenant_id in (
            select tenant_id from {{ ref('active_models') }} where algorithm = 'cooccurrence'
        )
        and tenant_id in {{ fresh_tenants() }}
    {%- endif %}
),

folds as (
    select * from {{ ref('int_folds_defined') }}
),

settings as (
    select tenant_id, k, candidates_n from {{ ref('tenant_settings') }}
),

bought as (
    select tenant_id, fold, customer_id, item_id from {{ ref('int_interactions_weighted') }}
    where fold = '{{ fold }}' and purchase_occasions > 0
),

targets as (
    select histories.*
    from histories
    {%- if fold == 'holdout' %}
    -- the customers the evaluation scores
    semi join {{ ref('int_holdout_purchases_collected') }} as evaluated
        on evaluated.tenant_id = histories.tenant_id
            and evaluated.customer_id = histories.customer_id
            and evaluated.is_evaluated
    {%- endif %}
),

contributions as (
    select
        targets.tenant_id,
        targets.fold,
        targets.customer_id,
        similarities.similar_item_id as item_id,
        targets.item_id as because_item_id,
        similarities.score
        * pow(
            0.5,
            greatest(date_diff('second', targets.last_purchased_at, folds.reference_at), 0)
            / 86400.0 / folds.half_life_days
        ) as contribution
    from targets
    inner join similarities
        on targets.tenant_id = similarities.tenant_id
            and targets.fold = similarities.fold
            and targets.item_id = similarities.item_id
    inner join folds on targets.tenant_id = folds.tenant_id and targets.fold = folds.fold
),

scored as (
    select
        tenant_id,
        fold,
        customer_id,
        item_id,
        sum(contribution) as score,
        arg_max(because_item_id, contribution) as because_item_id
    from contributions
    group by tenant_id, fold, customer_id, item_id
),

unbought as (
    select * from scored
    anti join bought
        on scored.tenant_id = bought.tenant_id
            and scored.fold = bought.fold
            and scored.customer_id = bought.customer_id
            and scored.item_id = bought.item_id
),

ranked as (
    select
        unbought.*,
        row_number() over (
            partition by unbought.tenant_id, unbought.fold, unbought.customer_id
            order by unbought.score desc, unbought.item_id asc
        ) as rank,
        case unbought.fold when 'full' then settings.candidates_n else settings.k end as depth
    from unbought
    inner join settings on unbought.tenant_id = settings.tenant_id
),

final as (
    select tenant_id, fold, customer_id, rank, item_id, score, because_item_id
    from ranked
    where rank <= depth
)

select * from final
{%- endmacro %}
