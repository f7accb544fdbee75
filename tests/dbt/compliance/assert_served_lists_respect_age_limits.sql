{#- Compliance: no served row offers an age-limited item to a customer under the limit or of
    unknown age. Ages restated from the customers input at the build time. -#}
with

served as (
    select tenant_id, customer_id, item_id, 'recommendations' as list
    from {{ ref('recommendations') }}
    union all
    select tenant_id, customer_id, item_id, 'buy_again' as list
    from {{ ref('buy_again') }}
)

select served.*, items.min_age, customers.birth_date
from served
inner join {{ ref('stg_items') }} as items using (tenant_id, item_id)
left join {{ ref('stg_customers') }} as customers using (tenant_id, customer_id)
where
    items.min_age is not null
    and (
        customers.birth_date is null
        or customers.birth_date > cast({{ build_time() }} as date) - to_years(items.min_age)
    )
