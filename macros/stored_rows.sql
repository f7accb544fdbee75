{#- The rows of a stored model form (the source lifecycle_state.stored_<form>: the tenants'
    active versions in the state database) of the tenants served by their stored version in
    this build (active_models, model_source 'stored'). -#}
{% macro stored_rows(form) -%}
    select stored.*
    from {{ source('lifecycle_state', 'stored_' ~ form) }} as stored
    semi join {{ ref('active_models') }} as models
        on stored.tenant_id = models.tenant_id
            and stored.version = models.version
            and models.model_source = 'stored'
{%- endmacro %}
