"""The contract is defined once (recsql/contract.py); everything else must agree with it."""

from __future__ import annotations

import csv
import math
import re

import pytest
import yaml

from recsql import contract
from recsql.contract import TABLES, TENANT_SETTINGS, ColumnType
from recsql.engine.algorithms import ALGORITHMS
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


def test_required_input_tables_macro_lists_the_required_tables() -> None:
    macro = (REPO / "macros/required_input_tables.sql").read_text()
    assert re.findall(r"'(\w+)'", macro) == [t.name for t in TABLES if t.required]


# --------------------------------------------------------------------------- tenant settings


def test_tenants_input_columns_are_the_settings() -> None:
    assert [c.name for c in contract.TENANTS.columns] == [
        "tenant_id",
        *(s.name for s in TENANT_SETTINGS),
    ]
    assert not (REPO / "seeds/tenant_defaults.csv").exists()  # the defaults live in the contract


def test_the_settings_macro_is_generated_from_the_contract() -> None:
    """The dbt models check and default the settings through this file."""
    assert contract.SETTINGS_MACRO.read_text() == contract.settings_macro(), (
        "macros/tenant_setting_definitions.sql is out of date: run python -m recsql.contract"
    )


def test_the_docs_settings_table_is_generated_from_the_contract() -> None:
    assert contract.settings_table() in DOCS, (
        "docs/contract.md's tenants table is out of date: run python -m recsql.contract"
    )
    rows = {
        cells[0]: cells[1:]
        for line in _docs_section("tenants").splitlines()
        if line.startswith("| ")
        for cells in [[cell.strip() for cell in line.strip("|").split("|")]]
    }
    for setting in TENANT_SETTINGS:
        type_, default, allowed, meaning = rows[f"{setting.name}?"]
        assert type_ == setting.type.value, setting.name
        assert default.strip("`") == ("(none)" if setting.default is None else f"{setting.default}")
        assert allowed == setting.allowed and meaning == setting.description, setting.name


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("mode", "freeze", True),
        ("mode", "paused", False),
        ("k", 1, True),
        ("k", 1000, True),
        ("k", 0, False),
        ("k", 1001, False),
        ("k", 2.5, False),
        ("k", math.inf, False),
        ("half_life_days", 0.01, True),
        ("half_life_days", 0, False),
        ("als_regularization", 1e-9, True),
        ("als_regularization", 0, False),  # > 0: ALS needs it (it was >= 0 in staging)
        ("sustainability_nudge", 0, True),
        ("sustainability_nudge", -0.1, False),
        ("retrain_every_days", 0, True),  # every build
        ("retrain_every_days", -1, False),
        ("retrain_new_data_share", 0, True),
        ("retrain_new_data_share", 1, True),
        ("retrain_new_data_share", 1.5, False),
        ("retrain_drift", 1, True),
        ("retrain_drift", -0.1, False),
        ("keep_versions", 0, False),
        ("promotion_min_customers", 0, False),
        ("promotion_margin", 1.01, False),
        ("min_accepted_share", 0, True),
        ("min_accepted_share", 1, True),
        ("min_accepted_share", 1.01, False),
        ("nothing_threshold", -5.5, True),
        ("nothing_threshold", math.inf, False),
        ("nothing_threshold", "0.5", False),  # a value of the setting's type, not text
    ],
)
def test_a_setting_allows_its_choices_or_range(name: str, value: object, allowed: bool) -> None:
    assert contract.TENANT_SETTINGS_BY_NAME[name].allows(value) is allowed


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("mode", "`on`, `freeze`, `off`"),
        ("k", "1..1000"),
        ("candidates_n", "`k`..1000"),
        ("half_life_days", "> 0"),
        ("sustainability_nudge", ">= 0"),
        ("min_accepted_share", "0..1"),
        ("retrain_every_days", ">= 0"),
        ("retrain_new_data_share", "0..1"),
        ("retrain_drift", "0..1"),
        ("nothing_threshold", "any number"),
    ],
)
def test_a_setting_says_what_it_allows(name: str, text: str) -> None:
    assert contract.TENANT_SETTINGS_BY_NAME[name].allowed == text


def test_a_setting_whose_default_it_does_not_allow_is_refused() -> None:
    with pytest.raises(ValueError, match="default"):
        contract.Setting("k", ColumnType.INTEGER, 0, "x", minimum=1)
    with pytest.raises(ValueError, match="choices"):
        contract.Setting("mode", ColumnType.STRING, "on", "x")


def _extremes(setting: contract.Setting) -> list[int | float]:
    """The smallest and largest values a numeric setting allows (a bound of infinity: a large
    value)."""
    low = setting.minimum if setting.minimum is not None else -1e9
    if setting.minimum_exclusive:
        low = 1 if setting.type == ColumnType.INTEGER else math.nextafter(low, math.inf)
    high = setting.maximum if setting.maximum is not None else 1e9
    return [low, high]


@pytest.mark.parametrize("algorithm", ["als", "ease"])
def test_the_matrix_algorithms_accept_every_value_the_contract_allows(algorithm: str) -> None:
    """The algorithms check their parameters too (ALS.__post_init__): they must accept what
    staging lets through, or a build with a valid tenants file would crash."""
    cls = ALGORITHMS[algorithm]
    prefix = f"{algorithm}_"
    settings = [s for s in TENANT_SETTINGS if s.name.startswith(prefix)]
    assert settings
    cls.from_settings(contract.default_settings())
    for setting in settings:
        for value in _extremes(setting):
            assert setting.allows(value)
            cls.from_settings({**contract.default_settings(), setting.name: value})


@pytest.mark.parametrize(
    ("name", "value"),
    [("als_regularization", 0), ("als_alpha", 0), ("als_factors", 0), ("ease_lambda", 0)],
)
def test_the_matrix_algorithms_refuse_what_the_contract_refuses(name: str, value: float) -> None:
    setting = contract.TENANT_SETTINGS_BY_NAME[name]
    assert not setting.allows(value)
    cls = ALGORITHMS[name.split("_")[0]]
    with pytest.raises(ValueError):
        cls.from_settings({**contract.default_settings(), name: value})


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
    return {
        re.sub(r"\{\{ *(setting\.)?name *\}\}", "<setting>", r)
        for r in re.findall(r"then '([^']+)'", sql)
    }


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
