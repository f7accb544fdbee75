{#- One row per served tenant whose version's champion is ranked: the learned ranker of its
    version (rankers when trained by this build, else stored), what customer_candidates
    re-orders its candidates with. -#}
{{ active_form('rankers', ref('trained_rankers')) }}
