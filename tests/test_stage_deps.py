"""Every stage's `deps` cover the project modules its script runs, so an edit can never leave
`dvc repro` saying "up to date" over stale outputs.

The modules a stage runs are found statically: every ``fmnist_ad`` import in the stage script and,
transitively, in the modules it imports (imports inside functions included, since they run). The
detector registry imports by name (:func:`registry_imports`): every detector's params schema, and
for a stage of detector M only M's detector.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
import yaml

from fmnist_ad.detectors import DETECTORS
from sandbox import REPO

SRC = REPO / "src"
DVCFILES = (REPO / "dvc.yaml", REPO / "protocols" / "dvc.yaml", REPO / "benchmark" / "dvc.yaml")


def module_file(name: str) -> Path | None:
    path = SRC.joinpath(*name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node except those under ``if TYPE_CHECKING:`` (imports for annotations only)."""
    out, todo = [], [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            todo.extend(node.orelse)
            continue
        out.append(node)
        todo.extend(ast.iter_child_nodes(node))
    return out


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)  # submodules imported by name
    return {n for n in names if n == "fmnist_ad" or n.startswith("fmnist_ad.")}


def registry_imports(name: str, detector: str | None) -> list[str]:
    """What the detector registry imports by name at run time (``importlib``): every detector's
    ``params`` module (the params schema has a section per detector) and, where a module calls
    ``detector_class``, the stage's own detector (every detector for a stage of none)."""
    if name == "fmnist_ad.detectors":
        return [f"fmnist_ad.params.{d}" for d in DETECTORS]
    if name == "fmnist_ad.detectors.detector_class":
        return [f"fmnist_ad.detectors.{d}.detector" for d in ([detector] if detector in DETECTORS else DETECTORS)]
    return []


def files_run_by(script: Path, detector: str | None) -> set[Path]:
    """The script and every project file it imports, transitively."""
    seen: set[Path] = set()
    todo = [script]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in imported_modules(path):
            for module in (name, *registry_imports(name, detector)):
                parts = module.split(".")
                # a package's __init__ runs before any of its submodules
                for i in range(2, len(parts) + 1):
                    found = module_file(".".join(parts[:i]))
                    if found is not None:
                        todo.append(found)
    return seen


def resolve(value: Any, spec: dict) -> Any:
    """``value`` or, for a ``${a.b}`` reference, that entry of the file's ``vars``."""
    if not (isinstance(value, str) and value.startswith("${")):
        return value
    found: Any = {k: v for entry in spec.get("vars", []) for k, v in entry.items()}
    for key in value[2:-1].split("."):
        found = found[key]
    return found


def expanded_stages() -> list[tuple[str, str, list[str], Path, str | None]]:
    """(dvc file, stage name, deps, wdir, detector) for every stage, foreach and matrix expanded."""
    out = []
    for dvcfile in DVCFILES:
        spec = yaml.safe_load(dvcfile.read_text())
        for name, stage in spec["stages"].items():
            if "foreach" in stage:
                for item in resolve(stage["foreach"], spec):
                    body = yaml.safe_dump(stage["do"]).replace("${item}", item)
                    out.append((str(dvcfile.relative_to(REPO)), f"{name}@{item}", yaml.safe_load(body), item))
            elif "matrix" in stage:
                # a `detector` key changes the code a cell runs, so each value is a case; the other
                # keys (protocol, class, seed) do not, and their first value stands for all
                text = yaml.safe_dump({k: v for k, v in stage.items() if k not in ("matrix", "vars")})
                for key, values in stage["matrix"].items():
                    if key != "detector":
                        text = text.replace("${item.%s}" % key, str(resolve(values, spec)[0]))
                local = {k: v for entry in stage.get("vars", []) for k, v in entry.items()}  # stage vars
                for key, value in local.items():
                    text = text.replace("${%s}" % key, str(value))
                for detector in stage["matrix"].get("detector", [local.get("detector", name)]):
                    body = yaml.safe_load(text.replace("${item.detector}", detector))
                    out.append((str(dvcfile.relative_to(REPO)), name, body, detector))
            else:
                out.append((str(dvcfile.relative_to(REPO)), name, stage, None))
    return [(f, n, s.get("deps", []), (REPO / Path(f).parent / s.get("wdir", ".")).resolve(), d)
            for f, n, s, d in out]


STAGES = expanded_stages()


@pytest.mark.parametrize(("dvcfile", "name", "deps", "wdir", "detector"), STAGES,
                         ids=[f"{f}:{n}:{d}" for f, n, _, _, d in STAGES])
def test_stage_deps_cover_the_modules_it_runs(dvcfile, name, deps, wdir, detector) -> None:
    spec = yaml.safe_load((REPO / dvcfile).read_text())["stages"][name.split("@")[0]]
    body = spec.get("do", spec)
    words = body["cmd"].replace("${item.detector}", str(detector)).replace("${detector}", str(detector)).split()
    at = next(i for i, w in enumerate(words) if w.endswith(".py"))
    script = words[at]
    named = [w for w in words[at + 1:at + 2] if w in DETECTORS]  # `cell.py gan ...`
    detector = named[0] if named else (detector if detector in DETECTORS else None)
    dep_paths = [(wdir / d).resolve() for d in deps]
    needed = files_run_by((wdir / script).resolve(), detector)
    missing = sorted(str(p.relative_to(REPO)) for p in needed
                     if not any(p == d or d in p.parents for d in dep_paths))
    assert not missing, f"{dvcfile}:{name} runs {missing} but does not list them in deps"
    if detector is None:  # a stage template shared by detectors lists what any of them runs
        unused = sorted(str(d.relative_to(REPO)) for d in dep_paths
                        if d.suffix == ".py" and SRC in d.parents and d not in needed)
        assert not unused, f"{dvcfile}:{name} lists {unused} but never runs them: edits there would rerun it for nothing"


def test_the_walk_finds_lazy_imports() -> None:
    """The probe sees imports inside functions (training is imported lazily by run_train)."""
    files = files_run_by(REPO / "stages" / "train.py", "ae")
    assert SRC / "fmnist_ad" / "training.py" in files
    assert SRC / "fmnist_ad" / "detectors" / "ae" / "detector.py" in files
    assert SRC / "fmnist_ad" / "detectors" / "vae" / "detector.py" not in files


@pytest.mark.parametrize("dvcfile", DVCFILES, ids=[str(f.relative_to(REPO)) for f in DVCFILES])
def test_lock_holds_only_stages_the_pipeline_defines(dvcfile: Path) -> None:
    """DVC keeps a removed stage's entry in dvc.lock; a stale one there misleads readers of the lock."""
    lock = dvcfile.with_name("dvc.lock")
    if not lock.is_file():
        pytest.skip(f"{lock.relative_to(REPO)} not committed")
    defined = set(yaml.safe_load(dvcfile.read_text())["stages"])
    locked = {name.split("@")[0] for name in yaml.safe_load(lock.read_text())["stages"]}
    assert not locked - defined, f"{lock.relative_to(REPO)} holds stages {sorted(locked - defined)} that {dvcfile.name} no longer defines"
