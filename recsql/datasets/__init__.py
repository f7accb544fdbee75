"""Data sets for demos, tests and benchmarks: the synthetic generator with planted structure
and bad rows (:mod:`~recsql.datasets.generator`), and the conversion of the UCI Online Retail
file to the input contract (:mod:`~recsql.datasets.online_retail`).
"""
