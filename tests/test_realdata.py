"""Smoke test on the real FashionMNIST files, when installed (Debian's dataset-fashion-mnist or
$FASHION_MNIST_DIR); skipped with the reason otherwise."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO
from fmnist_ad.download import fetch
from fmnist_ad.params import load_params
from fmnist_ad.prepare import prepare

CANDIDATES = [os.environ.get("FASHION_MNIST_DIR", ""), "/usr/share/datasets/fashion-mnist"]
FOUND = next((Path(c) for c in CANDIDATES if c and (Path(c) / "t10k-labels-idx1-ubyte.gz").exists()), None)

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(FOUND is None, reason="real FashionMNIST not installed: apt-get install "
                       "dataset-fashion-mnist or set FASHION_MNIST_DIR to run this smoke test"),
]


def test_real_data_verifies_and_splits_as_the_report(tmp_path: Path) -> None:
    params = load_params(REPO / "params.yaml")
    data = params.data.model_copy(update={"mirrors": [str(FOUND)], "download": False})
    fetch(data, tmp_path / "raw")          # checks the pinned official digests
    splits = prepare(tmp_path / "raw", tmp_path / "prepared", params.protocol)
    assert [len(splits[n].index) for n in ("train", "labeled", "val", "test")] == [5000, 4995, 10000, 10000]
    assert np.bincount(splits["val"].classes).tolist() == [1000] * 10
    assert (splits["train"].classes == 0).all()
