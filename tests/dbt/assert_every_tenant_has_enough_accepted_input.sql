{#- Fails for every tenant and required input table (interactions, items) with no accepted row,
    or with an accepted share below the tenant's min_accepted_share: its recommender would be
    empty, or built from a sliver of its data. `message` gives the counts and the most common
    reason with an example value; recsql build prints it. -#}
select
    tenant_id,
    source_table,
    message
from {{ ref('input_acceptance') }}
where not is_sufficient
