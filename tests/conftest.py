"""Shared fixtures: small synthetic FashionMNIST-format mirrors that the real code runs on."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest
import yaml

from fmnist_ad.idx import encode_idx, sha256
from fmnist_ad.params import IDX_FILES

os.environ.setdefault("DVC_NO_ANALYTICS", "1")
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


@pytest.fixture(scope="session")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("mirror")
    return folder, write_mirror(folder)


def small_params(mirror_dir: Path, digests: dict[str, str]) -> dict:
    """params.yaml of the repo, shrunk to the synthetic mirror and a few quick epochs."""
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["data"].update(mirrors=[str(mirror_dir)], download=False, sha256=digests)
    raw["protocol"].update(val_size=60, labeled_anomalies=45, kmeans_clusters=3)
    raw["ae"].update(max_epochs=6, batch_size=16, eval_batch_size=64, lr=5e-3)
    raw["vae"].update(max_epochs=2, batch_size=32, eval_batch_size=64, elbo_samples=2)
    raw["gan"].update(epochs=1, batch_size=16, eval_batch_size=64)
    return raw


@pytest.fixture(autouse=True, scope="session")
def _one_thread() -> None:
    """Tiny test models run faster on one thread than fighting over two cores."""
    import torch

    torch.set_num_threads(1)
