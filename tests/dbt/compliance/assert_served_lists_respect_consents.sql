{#- Compliance: the latest consent of each customer is obeyed (macros/compliance.sql). -#}
{{ consent_rows(customer_lists()) }}
