{#- Fails for every rejected row of a validated staging model. Used on configuration inputs
    (rules, tenants), where a row that cannot be applied must stop the build instead of being
    skipped: an "exclude alcohol" rule that is quietly ignored is a compliance breach.
    With `tenant_fails` a row that names a tenant fails that tenant instead (tenant_failures:
    it keeps its previous lists, and recsql build exits 3); a row that names none, or every
    tenant ('*'), still stops the build.
    `message` (what recsql build prints): the reason and the row as the file held it. -#}
{% test no_rejected_rows(model, tenant_fails=false) %}
select
    tenant_id,
    rejection_reason,
    row_json,
    rejection_reason || ' in ' || row_json as message
from {{ model }}
where
    rejection_reason is not null
    {% if tenant_fails %}
        and (
            tenant_id is null
            or tenant_id not in (select tenant_id from {{ ref('tenant_failures') }})
        )
    {% endif %}
{% endtest %}
