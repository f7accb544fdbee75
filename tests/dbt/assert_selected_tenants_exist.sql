{#- `recsql build --tenants` names only tenants the inputs have: a misspelt id would otherwise
    build nothing and hold every tenant. -#}
{%- set selected = var('tenants', []) %}
select selected.tenant_id, 'no input names tenant ' || selected.tenant_id as message
from (
    select unnest([
        {%- for tenant in selected %}
            '{{ tenant | replace("'", "''") }}'{% if not loop.last %}, {% endif %}
        {%- endfor %}
    ]::varchar[]) as tenant_id
) as selected
anti join {{ ref('tenant_plans') }} as plans on selected.tenant_id = plans.tenant_id
