{#- One row per tenant, customer and rank (up to candidates_n): co-occurrence candidates on
    today's full histories, scored with the similarities of the tenant's active version, for
    the tenants scored in this build whose champion is co-occurrence
    (macros/cooccurrence_candidates.sql). -#}
{{ cooccurrence_candidates('full') }}
