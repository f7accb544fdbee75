{#- One row per tenant, evaluated customer and rank (up to k): co-occurrence candidates from
    the holdout fold, for the offline evaluation (macros/cooccurrence_candidates.sql). -#}
{{ cooccurrence_candidates('holdout') }}
