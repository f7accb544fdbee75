{#- Compliance: no served row offers an item where it may not be sold, popular lists per
    country included (macros/compliance.sql). -#}
{{ geo_rows(customer_lists(), ref('popular_items')) }}
