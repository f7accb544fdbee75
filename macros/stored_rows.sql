{#- The rows of a stored model form (the source lifecycle_state.stored_<form>: those of the
    tenants' active versions and candidates in the state database) of the version serving each
    tenant served by a stored version in this build (active_models, model_source 'stored'). -#}
{% macro stored_rows(form) -%}
    select stored.*
    from {{ source('lifecycle_state', 'stored_' ~ form) }} as stored
    semi join {{ ref('active_models') }} as models
        on stored.tenant_id = models.tenant_id
            and stored.version = models.version
            and models.model_source = 'stored'
{%- endmacro %}
