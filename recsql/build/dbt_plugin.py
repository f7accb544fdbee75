"""dbt-duckdb plugin: loads the input files of the contract as the dbt sources, and defines
the business-rule macros of ``recsql/rules/rules.sql`` in the build database.

Configured in ``profiles.yml``; every source in ``models/staging/_staging__sources.yml`` has
``plugin: recsql``. All the logic is in :mod:`recsql.build.inputs` and the SQL file.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
from dbt.adapters.duckdb.plugins import BasePlugin
from dbt.adapters.duckdb.utils import SourceConfig

from recsql.build import inputs
from recsql.rules import macros_sql


class Plugin(BasePlugin):
    def initialize(self, plugin_config: dict[str, Any]) -> None:
        self.data_dir = plugin_config["data_dir"]
        # The encodings variable, as JSON (profiles.yml); dbt may have parsed it already.
        encodings = plugin_config.get("encodings") or {}
        self.encodings = json.loads(encodings) if isinstance(encodings, str) else encodings
        self._checked = False

    def configure_connection(self, conn: Any) -> None:
        # Check the whole input directory when the build opens its database, so a missing
        # file or column stops the build before any model runs. This check prints the
        # warnings (ignored files and columns); `recsql build` checks before dbt, quietly.
        if not self._checked:
            inputs.locate_all(self.data_dir, encodings=self.encodings)
            self._checked = True
        conn.execute(macros_sql())

    def load(self, source_config: SourceConfig) -> pa.Table:
        return inputs.read_table(self.data_dir, source_config.identifier, self.encodings)
