{#- The tenants this build trains a new version for (tenant_plans), as a subquery:
    `where tenant_id in {{ training_tenants() }}`. The engine's training models read only
    their rows; every other tenant is served by its stored version. -#}
{% macro training_tenants() -%}
    (select tenant_id from {{ ref('tenant_plans') }} where action = 'train')
{%- endmacro %}
