{#- The rows of the published file's table `recsql_data.<table>` (attached read-only as
    recsql_previous by the recsql dbt plugin) of the tenants this build holds and judges again
    (rejudged_tenants), with the given `columns`. No rows - with the columns and types of the
    relation `like` - when there is no published file, or its table lacks one of the columns (a
    file from an older recsql): the held tenant then serves nothing until a build succeeds for
    it. The callers (the served lists' models) drop the rows today's rules forbid and renumber
    the ranks. -#}
{% macro previous_rows(table, columns, like) -%}
    {#- rendered first, so that dbt records its refs when it parses (the file is not read then) -#}
    {{- published_rows(table, columns, like, rejudged_tenants()) -}}
{%- endmacro %}

{#- The tenants served fresh lists by this build (tenant_plans' action train or score), as a
    subquery: `where tenant_id in {{ fresh_tenants() }}`. -#}
{% macro fresh_tenants() -%}
    (select tenant_id from {{ ref('tenant_plans') }} where action in ('train', 'score'))
{%- endmacro %}

{#- The tenants this build holds, as a subquery: `tenant_plans`' action hold (carried: its inputs
    did not change; failed before the engine ran; left out by --tenants) and those that failed
    after (tenant_late_failures: a model that could not be fitted, fresh lists that broke a
    compliance guarantee). They serve their published lists (previous_rows) minus what today's
    rules forbid; the serving models leave out their fresh rows. -#}
{% macro held_tenants() -%}
    (
        select tenant_id from {{ ref('tenant_plans') }} where action = 'hold'
        union all
        select tenant_id from {{ ref('tenant_late_failures') }}
    )
{%- endmacro %}

{#- The tenants this build holds (held_tenants) but those it keeps whole (kept_tenants: the
    publication keeps their published rows), as a subquery: the held tenants whose published
    rows the serving models read and judge by today's rules. -#}
{% macro rejudged_tenants() -%}
    (
        select held.tenant_id from {{ held_tenants() }} as held
        anti join {{ ref('kept_tenants') }} as kept on held.tenant_id = kept.tenant_id
    )
{%- endmacro %}

{#- The tenants this build keeps whole (kept_tenants), as a subquery. -#}
{% macro kept_tenants() -%}
    (select tenant_id from {{ ref('kept_tenants') }})
{%- endmacro %}

{#- A customer list (`table`: recommendations, buy_again or new_for_you, on `shelf` discover,
    buy_again or new_for_you) of
    the tenants this build holds: their published rows (previous_rows) minus those today's rules
    forbid - a customer erased, withheld the shelf (consents, `nothing` rules) or no longer
    personalized (then only popularity and trending rows stay on discover), an item no longer
    active, or one the customer's rule class may not be shown (geo, age, exclude and
    include_only rules: rule_class_verdicts) - in their order, ranks renumbered, no refill.
    `like`: a relation with the table's columns. -#}
{% macro carried_customer_rows(table, shelf, like) -%}
    {%- set columns = [
        'tenant_id', 'customer_id', 'rank', 'item_id', 'score', 'algorithm', 'reason',
        'model_version', 'generated_at'
    ] -%}
    select * from (
        with

        kept as materialized (
            select previous.*
            from ({{ previous_rows(table, columns, like) }}) as previous
            inner join {{ ref('customer_shelves') }} as shelves
                on previous.tenant_id = shelves.tenant_id
                    and previous.customer_id = shelves.customer_id
                    and shelves.shelf = '{{ shelf }}'
            inner join {{ ref('customer_rule_states') }} as people
                on previous.tenant_id = people.tenant_id
                    and previous.customer_id = people.customer_id
                    and not people.is_visitor
            inner join {{ ref('item_rule_states') }} as items
                on previous.tenant_id = items.tenant_id and previous.item_id = items.item_id
            left join {{ ref('rule_class_verdicts') }} as verdicts
                on previous.tenant_id = verdicts.tenant_id
                    and people.rule_class = verdicts.rule_class
                    and previous.item_id = verdicts.item_id
            where
                shelves.withheld_by is null
                {%- if shelf == 'discover' %}
                    and (
                        shelves.is_personalized
                        or previous.algorithm in ('popularity', 'trending')
                    )
                {%- endif %}
                and items.is_active
                and verdicts.blocked_by is null
                and verdicts.not_included_by is null
        ),

        -- a published list's ranks are 1, 2, 3...: only a list that lost a row before its last
        -- kept one is renumbered (a window over every carried row cost more than the rules)
        gapped as (
            select tenant_id, customer_id
            from kept
            group by tenant_id, customer_id
            having count(*) < max(rank)
        )

        select kept.*
        from kept
        anti join gapped
            on kept.tenant_id = gapped.tenant_id and kept.customer_id = gapped.customer_id
        union all
        select
            kept.* replace (
                row_number() over (
                    partition by kept.tenant_id, kept.customer_id order by kept.rank
                ) as rank
            )
        from kept
        semi join gapped
            on kept.tenant_id = gapped.tenant_id and kept.customer_id = gapped.customer_id
    )
{%- endmacro %}
