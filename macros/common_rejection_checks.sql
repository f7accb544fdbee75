{#- The checks every validated staging model starts with, as CASE branches:
    a CSV record the reader could not read (_load_error holds the reason: bytes that are no
    text in the file's encoding, or a line it could not split), an empty tenant_id, a tenant
    the tenants input does not list. -#}
{% macro common_rejection_checks(check_tenant=true, all_tenants_marker=none) -%}
    when _load_error = 'invalid encoding' then 'invalid encoding'
    when _load_error is not null then 'malformed csv line'
    when tenant_id is null then 'empty tenant_id'
    {%- if check_tenant %}
        when
            {%- if all_tenants_marker %} tenant_id <> '{{ all_tenants_marker }}' and{% endif %}
            {{ is_unknown_tenant('tenant_id') }}
            then 'unknown tenant'
    {%- endif %}
{%- endmacro %}
