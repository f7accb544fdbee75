{#- One row per served tenant: the buy-again model of its version (repurchase_models when
    trained by this build - the fixed rule where its holdout had nothing to learn from - else
    stored), what repurchase_scores scores its customers' full histories with. -#}
{% call active_form('repurchase') %}
    select
        models.tenant_id,
        models.version,
        coalesce(fitted.method, 'decayed affinity') as method,
        fitted.mean,
        fitted.scale,
        fitted.coef
    from models
    left join {{ ref('repurchase_models') }} as fitted on models.tenant_id = fitted.tenant_id
{% endcall %}
