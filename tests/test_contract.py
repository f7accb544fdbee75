"""The contract is defined once (recsql/contract.py); everything else must agree with it."""

from __future__ import annotations

import csv
import re

import yaml

from recsql import contract
from recsql.contract import TABLES, TENANT_SETTINGS
from tests.conftest import REPO

DOCS = (REPO / "docs" / "contract.md").read_text()


def _docs_section(table: str) -> str:
    match = re.search(rf"^### {table}\b.*?(?=^### |^## )", DOCS, re.S | re.M)
    assert match, f"docs/contract.md has no section for {table}"
    return match.group(0)


def test_docs_describe_every_table_and_column() -> None:
    for table in TABLES:
        section = _docs_section(table.name)
        assert ("(required)" in section.splitlines()[0]) == table.required, table.name
        for column in table.columns:
            marker = f"| {column.name}{'' if column.required else '?'} |"
            assert marker in section, f"{table.name}.{column.name} ({marker}) is not documented"


def test_dbt_sources_are_the_contract_tables() -> None:
    sources = yaml.safe_load((REPO / "models/staging/_staging__sources.yml").read_text())
    [inputs] = sources["sources"]
    assert [t["name"] for t in inputs["tables"]] == [t.name for t in TABLES]
    macro = (REPO / "macros/input_tables.sql").read_text()
    assert re.findall(r"'(\w+)'", macro) == [t.name for t in TABLES]


def test_tenant_defaults_seed_holds_every_setting_and_its_default() -> None:
    with (REPO / "seeds/tenant_defaults.csv").open() as f:
        [defaults] = list(csv.DictReader(f))
    assert defaults == {s.name: s.default for s in TENANT_SETTINGS}
    assert [c.name for c in contract.TENANTS.columns] == [
        "tenant_id",
        *(s.name for s in TENANT_SETTINGS),
    ]


def test_event_types_seed_orders_the_weights() -> None:
    with (REPO / "seeds/event_types.csv").open() as f:
        weights = {row["event_type"]: float(row["weight"]) for row in csv.DictReader(f)}
    assert tuple(weights) == contract.EVENT_TYPES
    assert weights["view"] < weights["click"] < weights["cart"] < weights["purchase"]
    assert weights["return"] < 0


def _staging_sql() -> str:
    """The staging models' SQL and that of every macro they call (directly or not)."""
    macros = {}
    for path in REPO.glob("macros/*.sql"):
        text = path.read_text()
        for name in re.findall(r"macro (\w+)\(", text):
            macros[name] = text
    sql = [p.read_text() for p in REPO.glob("models/staging/validated/*.sql")]
    seen: set[str] = set()
    while True:
        called = {n for n in re.findall(r"(\w+)\(", "".join(sql)) if n in macros} - seen
        if not called:
            return "".join(sql)
        seen |= called
        sql += [macros[n] for n in sorted(called)]


def _reasons_in_sql() -> set[str]:
    sql = _staging_sql()
    # A reason built in a Jinja loop over settings ('invalid {{ name }}') reads as documented.
    return {re.sub(r"\{\{ *name *\}\}", "<setting>", r) for r in re.findall(r"then '([^']+)'", sql)}


def test_every_reason_the_sql_gives_is_documented() -> None:
    reasons = _reasons_in_sql()
    assert len(reasons) > 30
    undocumented = sorted(r for r in reasons if f"`{r}`" not in DOCS)
    assert not undocumented


def test_reason_constants_are_reasons_the_sql_gives() -> None:
    reasons = _reasons_in_sql()
    assert {r.value for r in contract.Reason} <= reasons
    assert contract.unparseable("occurred_at") in reasons
    assert contract.empty("occurred_at") in reasons
    assert contract.invalid("<setting>") in reasons
