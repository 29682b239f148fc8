"""Every stage's `deps` cover the project modules its script runs, so an edit can never leave
`dvc repro` saying "up to date" over stale outputs.

The modules a stage runs are found statically: every ``fmnist_ad`` import in the stage script and,
transitively, in the modules it imports (imports inside functions included, since they run). The
detector registry imports each detector lazily by name, so for a stage of detector M only M's
package is followed from there.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from fmnist_ad.sandbox import REPO

SRC = REPO / "src"
DETECTORS = ("ae", "vae", "gan")
REGISTRY = SRC / "fmnist_ad" / "detectors" / "__init__.py"


def module_file(name: str) -> Path | None:
    path = SRC.joinpath(*name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)  # submodules imported by name
    return {n for n in names if n == "fmnist_ad" or n.startswith("fmnist_ad.")}


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
            parts = name.split(".")
            if path == REGISTRY and len(parts) > 2 and parts[1] == "detectors" and parts[2] in DETECTORS \
                    and parts[2] != detector:
                continue
            # a package's __init__ runs before any of its submodules
            for i in range(2, len(parts) + 1):
                found = module_file(".".join(parts[:i]))
                if found is not None:
                    todo.append(found)
    return seen


def expanded_stages() -> list[tuple[str, str, list[str], Path, str | None]]:
    """(dvc file, stage name, deps, wdir, detector) for every stage, foreach and matrix expanded."""
    out = []
    for dvcfile in (REPO / "dvc.yaml", REPO / "protocols" / "dvc.yaml"):
        spec = yaml.safe_load(dvcfile.read_text())
        for name, stage in spec["stages"].items():
            if "foreach" in stage:
                for item in stage["foreach"]:
                    body = yaml.safe_dump(stage["do"]).replace("${item}", item)
                    out.append((str(dvcfile.relative_to(REPO)), f"{name}@{item}", yaml.safe_load(body), item))
            elif "matrix" in stage:
                # the detector is named in the command; the matrix keys do not change code
                text = yaml.safe_dump({k: v for k, v in stage.items() if k != "matrix"})
                for key, values in stage["matrix"].items():
                    text = text.replace("${item.%s}" % key, str(values[0]))
                out.append((str(dvcfile.relative_to(REPO)), name, yaml.safe_load(text), name))
            else:
                out.append((str(dvcfile.relative_to(REPO)), name, stage, None))
    return [(f, n, s.get("deps", []), (REPO / Path(f).parent / s.get("wdir", ".")).resolve(), d)
            for f, n, s, d in out]


STAGES = expanded_stages()


@pytest.mark.parametrize(("dvcfile", "name", "deps", "wdir", "detector"), STAGES,
                         ids=[f"{f}:{n}" for f, n, *_ in STAGES])
def test_stage_deps_cover_the_modules_it_runs(dvcfile, name, deps, wdir, detector) -> None:
    spec = yaml.safe_load((REPO / dvcfile).read_text())["stages"][name.split("@")[0]]
    body = spec.get("do", spec)
    words = body["cmd"].split()
    at = next(i for i, w in enumerate(words) if w.endswith(".py"))
    script = words[at]
    named = [w for w in words[at + 1:at + 2] if w in DETECTORS]  # `cell.py gan ...`
    detector = named[0] if named else (detector if detector in DETECTORS else None)
    dep_paths = [(wdir / d).resolve() for d in deps]
    needed = files_run_by((wdir / script).resolve(), detector)
    missing = sorted(str(p.relative_to(REPO)) for p in needed
                     if not any(p == d or d in p.parents for d in dep_paths))
    assert not missing, f"{dvcfile}:{name} runs {missing} but does not list them in deps"


def test_the_walk_finds_lazy_imports() -> None:
    """The probe sees imports inside functions (training is imported lazily by run_train)."""
    files = files_run_by(REPO / "stages" / "train.py", "ae")
    assert SRC / "fmnist_ad" / "training.py" in files
    assert SRC / "fmnist_ad" / "detectors" / "ae" / "detector.py" in files
    assert SRC / "fmnist_ad" / "detectors" / "vae" / "detector.py" not in files
