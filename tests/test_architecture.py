"""The dbt project's folders are its stages, in the order data flows (docs/architecture.md):
every model reads only models of its own stage or an earlier one, and only staging reads the
input files (``source()``). A model that reads a later stage would hide the flow the folders
show."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
#: The stages, first to last: the folders of models/.
STAGES = ("staging", "base", "engine", "rules", "lists", "serving")

_SQL_REF = re.compile(r"\bref\(\s*['\"](\w+)['\"]\s*\)")
_PYTHON_REF = re.compile(r"\bdbt\.ref\(\s*['\"](\w+)['\"]\s*\)")
_SOURCE = re.compile(r"\bsource\(\s*['\"]")


def models() -> dict[str, Path]:
    found = {}
    for path in sorted((REPO / "models").rglob("*")):
        if path.suffix in (".sql", ".py"):
            assert path.stem not in found, f"two models named {path.stem}"
            found[path.stem] = path
    return found


def stage_of(path: Path) -> str:
    return path.relative_to(REPO / "models").parts[0]


def refs(path: Path) -> set[str]:
    text = path.read_text()
    pattern = _PYTHON_REF if path.suffix == ".py" else _SQL_REF
    found = set(pattern.findall(text))
    # macros a model calls may ref models too (e.g. is_unknown_tenant): count them as its refs
    for macro in (REPO / "macros").glob("*.sql"):
        if re.search(rf"\b{macro.stem}\(", text):
            found |= set(_SQL_REF.findall(macro.read_text()))
    return found


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


def test_only_staging_reads_the_inputs() -> None:
    readers = {
        name
        for name, path in models().items()
        if _SOURCE.search(path.read_text()) and stage_of(path) != "staging"
    }
    assert not readers


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
