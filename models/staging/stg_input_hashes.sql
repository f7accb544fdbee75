{#- One row per tenant and input table other than interactions (items, customers,
    customer_flags, item_restrictions, consents, erasure_requests, rules; the rules of every
    tenant under tenant_id '*'): the sum of its accepted rows' hashes - order-free, and two
    equal rows do not cancel (accepted rows carry no lineage: the same row from another file
    or line is the same). With the interactions' sum, what a tenant's input fingerprint is
    made of (macro input_fingerprint): tenant_input_fingerprints, and
    stg_carried_tenants, which takes the interactions' sum the published lists were
    made from. -#}
{{ config(materialized='table') }}
{%- set tables = [
    'items', 'customers', 'customer_flags', 'item_restrictions', 'consents', 'erasure_requests',
    'rules'
] -%}
{% for table in tables %}
    select tenant_id, '{{ table }}' as input_table, sum(hash(input_rows)::hugeint) as rows_hash
    -- the alias is the row itself (hash(input_rows): all its columns)
    from {{ ref('stg_' ~ table) }} as input_rows  -- noqa: AL05
    group by tenant_id
    {% if not loop.last %}union all{% endif %}
{% endfor %}
