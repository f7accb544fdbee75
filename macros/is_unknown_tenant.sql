{% macro is_unknown_tenant(tenant_column) -%}
    (
        exists (select 1 from {{ ref('stg_tenants') }})
        and {{ tenant_column }} not in (select tenant_id from {{ ref('stg_tenants') }})
    )
{%- endmacro %}
