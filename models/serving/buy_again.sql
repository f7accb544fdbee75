{#- One row per tenant, customer and rank (up to k): items the customer bought, most likely to
    be bought again soon first (served_lists; the scores are repurchase_scores'). The reason
    gives the customer's rhythm where there is one. -#}
select * exclude (shelf)
from {{ ref('served_lists') }}
where shelf = 'buy_again'
