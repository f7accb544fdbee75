{#- One row per tenant task the engine's Python models ran this build (recsql/engine/journal.py):
    the model, the algorithm, how long it took and, where it raised, the error. A tenant with
    an error fails the build (tenant_late_failures: it keeps its published lists); the seconds
    are its fit_seconds in build_history. The runs are written by the models below into the
    build database's table recsql_engine_runs (created by the recsql dbt plugin). -#}
-- depends_on: {{ ref('holdout_als_factors') }}
-- depends_on: {{ ref('holdout_candidates') }}
-- depends_on: {{ ref('als_factors') }}
-- depends_on: {{ ref('ease_weights') }}
-- depends_on: {{ ref('customer_candidates') }}
-- depends_on: {{ ref('repurchase_holdout_scores') }}
-- depends_on: {{ ref('repurchase_models') }}
-- depends_on: {{ ref('repurchase_scores') }}
select
    model,
    tenant_id,
    algorithm,
    seconds,
    error
from main.recsql_engine_runs
