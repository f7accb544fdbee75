{#- One row per tenant: a fingerprint of everything its lists are made from — its accepted rows
    of every input table (interactions, the HTTP API's events among them, items, customers,
    customer_flags, item_restrictions, consents, erasure_requests), its rules and those of every
    tenant (`*`), its settings, and the code that makes the lists (var code_fingerprint: recsql's
    version and files, recsql/build/runner.py). The same rows give the same fingerprint in any
    order, file or folder; a row that is added, removed or changed gives another. A tenant that
    no trigger makes due and whose fingerprint is the one its published lists were made from
    keeps those lists (tenant_plans: carried; docs/lifecycle.md). -#}
{%- set tables = [
    'interactions', 'items', 'customers', 'customer_flags', 'item_restrictions', 'consents',
    'erasure_requests', 'rules'
] -%}
with

-- per tenant and table, a sum of its rows' hashes: order-free, and two equal rows do not
-- cancel (accepted rows carry no lineage: the same row from another file or line is the same)
summed as (
    {% for table in tables %}
        select tenant_id, '{{ table }}' as input_table, sum(hash(input_rows)::hugeint) as rows_hash
        -- the alias is the row itself (hash(input_rows): all its columns)
        from {{ ref('stg_' ~ table) }} as input_rows  -- noqa: AL05
        group by tenant_id
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

-- the rules of every tenant count for each one
everyone as (
    select input_table, rows_hash from summed where tenant_id = '*'
),

settings as (
    select tenant_id, to_json(settings) as settings_json
    from {{ ref('tenant_settings') }} as settings  -- noqa: AL05
),

parts as (
    select settings.tenant_id, summed.input_table, summed.rows_hash
    from settings
    inner join summed on settings.tenant_id = summed.tenant_id
    union all
    select settings.tenant_id, '*' || everyone.input_table as input_table, everyone.rows_hash
    from settings
    cross join everyone
),

final as (
    select
        settings.tenant_id,
        md5(concat_ws(
            '|',
            '{{ var("code_fingerprint", "") }}',
            settings.settings_json,
            string_agg(parts.input_table || '=' || parts.rows_hash, ',' order by parts.input_table)
        )) as input_fingerprint
    from settings
    left join parts on settings.tenant_id = parts.tenant_id
    group by settings.tenant_id, settings.settings_json
)

select * from final
