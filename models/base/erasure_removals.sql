{#- One row per tenant and customer who asked to be forgotten (erasure_requests): the
    request's key - the keyed hash (HMAC) the state database remembers it by, never the id
    (recsql/lifecycle/erasures.py) - when it was first requested, and how many of the
    customer's input rows the build keeps from every model and published table: accepted rows
    of interactions, customers, consents and customer_flags, and rejected rows published
    without their values (quarantined_rows). The publication adds the requests no build
    applied before to the state's erasure_log, without the customer ids. -#}
{%- set customer_tables = ['interactions', 'customers', 'consents', 'customer_flags'] %}

with

requests as (
    select tenant_id, customer_id, min(requested_at) as requested_at
    from {{ ref('stg_erasure_requests') }}
    group by tenant_id, customer_id
),

accepted as (
    {% for table in customer_tables %}
        select
            '{{ table }}' as source_table,
            tenant_id,
            customer_id,
            count(*) as removed
        from {{ ref('stg_' ~ table) }}
        group by tenant_id, customer_id
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

blanked as (
    select named.tenant_id, named.customer_id, count(*) as removed
    from (
        select unnest(erased_named, recursive := true) from {{ ref('int_rejected_rows') }}
    ) as named
    group by named.tenant_id, named.customer_id
),

final as (
    select
        requests.tenant_id,
        requests.customer_id,
        -- defined by the dbt plugin; the key is never in SQL text
        recsql_erasure_key(requests.tenant_id, requests.customer_id) as request_key,
        requests.requested_at,
        {% for table in customer_tables %}
            coalesce(sum(accepted.removed) filter (
                where accepted.source_table = '{{ table }}'
            ), 0)::bigint as {{ table }}_removed,
        {% endfor %}
        coalesce(any_value(blanked.removed), 0)::bigint as quarantined_rows_blanked
    from requests
    left join accepted
        on requests.tenant_id = accepted.tenant_id
            and requests.customer_id = accepted.customer_id
    left join blanked
        on requests.tenant_id = blanked.tenant_id
            and requests.customer_id = blanked.customer_id
    group by requests.tenant_id, requests.customer_id, requests.requested_at
)

select * from final
