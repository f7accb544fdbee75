"""The recommendation engine's numerical part: the algorithms (:mod:`~recsql.engine.algorithms`),
per-tenant candidate generation on worker processes (:mod:`~recsql.engine.candidates`,
:mod:`~recsql.engine.workers`) and the buy-again model (:mod:`~recsql.engine.repurchase`).
The dbt Python models of ``models/engine/`` are thin adapters over these modules.
"""
