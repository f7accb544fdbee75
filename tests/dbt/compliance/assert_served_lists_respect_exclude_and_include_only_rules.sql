{#- Compliance: exclude, include_only and `nothing` rules are obeyed, judged from the rule
    matches (macros/compliance.sql). -#}
{{ rule_rows(customer_lists()) }}
