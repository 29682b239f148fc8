"""Shared fixtures: small synthetic FashionMNIST-format mirrors that the real code runs on."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import yaml

from sandbox import REPO, make_project, run, synthetic_images, write_mirror  # noqa: F401 (re-exported to tests)

os.environ.setdefault("DVC_NO_ANALYTICS", "1")


@pytest.fixture(scope="session")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("mirror")
    return folder, write_mirror(folder)


def small_params(mirror_dir: Path, digests: dict[str, str]) -> dict:
    """params.yaml of the repo, shrunk to the synthetic mirror and a few quick epochs."""
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["data"].update(mirrors=[str(mirror_dir)], download=False, sha256=digests)
    raw["protocol"].update(val_size=60, labeled_anomalies=45, kmeans_clusters=3)
    raw["ae"].update(epochs=6, batch_size=16, eval_batch_size=64, lr=5e-3)
    raw["vae"].update(epochs=2, batch_size=32, eval_batch_size=64, elbo_samples=2)
    raw["gan"].update(epochs=1, batch_size=16, eval_batch_size=64)
    return raw


@pytest.fixture(autouse=True, scope="session")
def _one_thread() -> None:
    """Tiny test models run faster on one thread than fighting over two cores."""
    import torch

    torch.set_num_threads(1)


def pipeline_project(mirror: tuple[Path, dict[str, str]], root: Path, *targets: str) -> Path:
    """A sandbox project (this repo's pipeline, small params, the synthetic mirror) under
    ``root`` after `dvc repro TARGETS` (every stage when none is given)."""
    folder, digests = mirror
    project = make_project(root / "project", small_params(folder, digests))
    run([sys.executable, "-m", "dvc", "repro", *targets], project, OMP_NUM_THREADS="1")
    return project
