"""recsql: an embeddable, SQL-native recommender that lives in a DuckDB file."""

__version__ = "0.1.0"
