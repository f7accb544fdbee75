{#- Compliance: no served row offers an age-limited item to a customer under the limit or of
    unknown age (macros/compliance.sql). -#}
{{ age_limit_rows(customer_lists()) }}
