{#- One row per served tenant: the buy-again model of its version (repurchase_models when
    trained by this build - the fixed rule where its holdout had nothing to learn from - else
    stored), what repurchase_scores scores its customers' full histories with. -#}
{{ active_form('repurchase', ref('trained_repurchase_models')) }}
