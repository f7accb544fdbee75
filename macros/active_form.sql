{#- A stored-model form of the version serving each tenant (the active_* models of the engine):
    the rows of `trained` (the trained_* model of the form: this build's versions) of the
    tenants served by the version this build trained (active_models, model_source 'trained'),
    and the stored rows of the others: `stored` where a model holds them already
    (active_stored_item_neighbours), else read from the state here (stored_rows). -#}
{% macro active_form(form, trained, stored=none) -%}
select trained.*
from {{ trained }} as trained
semi join {{ ref('active_models') }} as models
    on trained.tenant_id = models.tenant_id
        and trained.version = models.version
        and models.model_source = 'trained'
union all by name
{% if stored is none %}{{ stored_rows(form) }}{% else %}select * from {{ stored }}{% endif %}
{%- endmacro %}
