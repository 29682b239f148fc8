"""Small synthetic FashionMNIST mirrors and throw-away copies of the pipeline.

Used by the test suite and the speed benchmark (``measure/speed.py``): the real code runs on
data in the real format (gzipped IDX) and under the real `dvc repro`, just small enough to take
seconds.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from fmnist_ad.idx import encode_idx, sha256
from fmnist_ad.params.sections import IDX_FILES

REPO = Path(__file__).resolve().parents[1]


def synthetic_images(classes: np.ndarray, seed: int) -> np.ndarray:
    """Class c draws a bright horizontal bar at rows 2c+3..2c+5 over low noise: learnable, distinct."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 40, size=(len(classes), 28, 28)).astype(np.uint8)
    for i, c in enumerate(classes):
        images[i, 2 * c + 3: 2 * c + 6, 4:24] = rng.integers(180, 256)
    return images


def write_mirror(folder: Path, per_class_train: int = 30, per_class_test: int = 10, seed: int = 0) -> dict[str, str]:
    """Write the four gzipped IDX files; return their decompressed SHA-256 digests."""
    folder.mkdir(parents=True, exist_ok=True)
    train_classes = np.tile(np.arange(10, dtype=np.uint8), per_class_train)
    test_classes = np.tile(np.arange(10, dtype=np.uint8), per_class_test)
    arrays = {
        "train-images-idx3-ubyte": synthetic_images(train_classes, seed),
        "train-labels-idx1-ubyte": train_classes,
        "t10k-images-idx3-ubyte": synthetic_images(test_classes, seed + 1),
        "t10k-labels-idx1-ubyte": test_classes,
    }
    digests = {}
    for name in IDX_FILES:
        content = encode_idx(arrays[name])
        (folder / f"{name}.gz").write_bytes(gzip.compress(content))
        digests[name] = sha256(content)
    return digests


def run(args: list[str], cwd: Path, check: bool = True, **env: str) -> subprocess.CompletedProcess:
    """Run a command as the pipeline would: the venv first on PATH (stage commands call `python`)."""
    full_env = dict(os.environ, DVC_NO_ANALYTICS="1",
                    PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", **env)
    proc = subprocess.run(args, cwd=cwd, env=full_env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}) in {cwd}:\n"
                           f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def stages_run(out: str) -> set[str]:
    """The stages a `dvc repro` (or `--dry`) output says it ran."""
    return {line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage")}


def make_project(project: Path, params: dict[str, Any]) -> Path:
    """A committed git + DVC repository holding this repo's pipeline and the given params."""
    project.mkdir(parents=True)
    shutil.copy(REPO / "dvc.yaml", project / "dvc.yaml")
    for folder in ("stages", "src"):
        shutil.copytree(REPO / folder, project / folder, ignore=shutil.ignore_patterns("__pycache__"))
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "init", "-q"], project)
    run(["git", "config", "user.email", "sandbox@example.invalid"], project)
    run(["git", "config", "user.name", "sandbox"], project)
    run([sys.executable, "-m", "dvc", "init", "-q"], project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "init"], project)
    return project
