{#- One row per tenant, customer and rank (k per customer, or none): the "discover" list, a
    push list of items the customer has not bought (served_lists). -#}
select * exclude (shelf)
from {{ ref('served_lists') }}
where shelf = 'discover'
