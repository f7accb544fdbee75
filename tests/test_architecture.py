"""The dbt project's folders are its stages, in the order data flows (docs/architecture.md): every
model reads only models of its own stage or an earlier one, only staging reads the input files
(``source('inputs', ...)``), and only lifecycle and engine read the state database
(``source('lifecycle_state', ...)``: the tenants' active versions, and their stored models that
the engine serves from), and only lifecycle the served file the build replaces
(``source('published', ...)``: what each tenant's lists were made from) - with one exception,
staging's ``stg_carried_tenants``, which reads both to decide, before the interactions are
validated, which tenants' interactions need not be (docs/lifecycle.md). A model that reads a
later stage would hide the flow the folders show."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
#: The stages, first to last: the folders of models/.
STAGES = ("staging", "base", "rules", "lifecycle", "engine", "lists", "serving")

_SQL_REF = re.compile(r"\bref\(\s*['\"](\w+)['\"]\s*\)")
_PYTHON_REF = re.compile(r"\bdbt\.ref\(\s*['\"](\w+)['\"]\s*\)")
_SOURCE = re.compile(r"\bsource\(\s*['\"](\w+)['\"]")
#: The sources, and the stages that may read them.
SOURCE_READERS = {
    "inputs": {"staging"},
    "lifecycle_state": {"lifecycle", "engine"},
    "published": {"lifecycle"},
}
#: The one model outside those stages that reads the state and the served file: the lifecycle's
#: decision that has to come before the interactions are staged.
SOURCE_EXCEPTIONS = {"stg_carried_tenants": {"lifecycle_state", "published"}}


def models() -> dict[str, Path]:
    found = {}
    for path in sorted((REPO / "models").rglob("*")):
        if path.suffix in (".sql", ".py"):
            assert path.stem not in found, f"two models named {path.stem}"
            found[path.stem] = path
    return found


def stage_of(path: Path) -> str:
    return path.relative_to(REPO / "models").parts[0]


def _with_macros(path: Path, pattern: re.Pattern[str], in_macros: re.Pattern[str]) -> set[str]:
    """What ``pattern`` finds in a model, and ``in_macros`` in the macros it calls (macros may
    ref models or read sources too, e.g. is_unknown_tenant)."""
    text = path.read_text()
    found = set(pattern.findall(text))
    for macro in (REPO / "macros").glob("*.sql"):
        if re.search(rf"\b{macro.stem}\(", text):
            found |= set(in_macros.findall(macro.read_text()))
    return found


def refs(path: Path) -> set[str]:
    return _with_macros(path, _PYTHON_REF if path.suffix == ".py" else _SQL_REF, _SQL_REF)


def sources(path: Path) -> set[str]:
    return _with_macros(path, _SOURCE, _SOURCE)


def test_every_model_is_in_a_stage_folder() -> None:
    assert {stage_of(path) for path in models().values()} <= set(STAGES)
    assert sorted(p.name for p in (REPO / "models").iterdir() if p.is_dir()) == sorted(STAGES)


def test_no_model_reads_a_later_stage() -> None:
    paths = models()
    seeds = {p.stem for p in (REPO / "seeds").glob("*.csv")}
    backwards = []
    for name, path in paths.items():
        stage = STAGES.index(stage_of(path))
        for ref in refs(path) - seeds:
            assert ref in paths, f"{name} refs {ref}, which is not a model"
            if STAGES.index(stage_of(paths[ref])) > stage:
                backwards.append(f"{stage_of(path)}/{name} reads {stage_of(paths[ref])}/{ref}")
    assert not backwards, "models that read a later stage:\n" + "\n".join(backwards)


def test_only_staging_reads_the_inputs_and_only_lifecycle_and_engine_the_state() -> None:
    wrong = {
        f"{stage_of(path)}/{name} reads {source}"
        for name, path in models().items()
        for source in sources(path)
        if stage_of(path) not in SOURCE_READERS.get(source, set())
        and source not in SOURCE_EXCEPTIONS.get(name, set())
    }
    assert not wrong
    readers = {source for path in models().values() for source in sources(path)}
    assert readers == set(SOURCE_READERS)


def test_each_stage_documents_its_models() -> None:
    """Each folder's _<stage>__models.yml describes exactly the models in it."""
    for stage in STAGES:
        documented = yaml.safe_load(
            (REPO / "models" / stage / f"_{stage}__models.yml").read_text()
        )["models"]
        names = {entry["name"] for entry in documented}
        present = {name for name, path in models().items() if stage_of(path) == stage}
        assert names == present, stage
        assert all(entry.get("description") for entry in documented), stage
