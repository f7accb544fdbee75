{#- Whether a row names a tenant the tenants input does not list. Where there is a tenants input,
    a tenant is listed by any row naming it, accepted or not: a tenant whose settings row is
    rejected is still a tenant (it fails, keeping its previous lists: tenant_failures), and its
    other inputs are not rejected for it. Without a tenants input every tenant is known. -#}
{% macro is_unknown_tenant(tenant_column) -%}
    (
        exists (select 1 from {{ ref('stg_tenants_validated') }} where tenant_id is not null)
        and {{ tenant_column }} not in (
            select tenant_id from {{ ref('stg_tenants_validated') }} where tenant_id is not null
        )
    )
{%- endmacro %}
