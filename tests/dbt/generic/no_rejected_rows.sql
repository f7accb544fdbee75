{#- Fails for every rejected row of a validated staging model. Used on configuration inputs
    (rules, tenants), where a row that cannot be applied must stop the build instead of being
    skipped: an "exclude alcohol" rule that is quietly ignored is a compliance breach.
    `message` (what recsql build prints): the reason and the row as the file held it. -#}
{% test no_rejected_rows(model) %}
select
    tenant_id,
    rejection_reason,
    row_json,
    rejection_reason || ' in ' || row_json as message
from {{ model }}
where rejection_reason is not null
{% endtest %}
