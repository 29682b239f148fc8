"""The baselines on pixels: known answers on hand-made images, persistence, and their verdicts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from fmnist_ad.detectors import BASELINES, DETECTORS, NETWORKS, detector_class
from fmnist_ad.detectors.base import CheckpointError
from fmnist_ad.params.gbt import GBTParams
from fmnist_ad.params.iforest import IForestParams
from fmnist_ad.params.knn import KNNParams
from fmnist_ad.prepare import ProtocolError, Split
from fmnist_ad.verdict import Entry, verdict


def _flat(values: list[float]) -> np.ndarray:
    """Images whose 784 pixels all equal one value each (float, in [0, 1])."""
    return np.repeat(np.asarray(values, dtype=np.float32), 784).reshape(-1, 28, 28)


def _split(images: np.ndarray, label: int) -> Split:
    n = len(images)
    return Split(images, np.full(n, label), np.full(n, label, dtype=np.uint8), np.arange(n))


def _splits(train: np.ndarray, labeled: np.ndarray | None = None) -> dict[str, Split]:
    empty = np.zeros((0, 28, 28), dtype=np.float32)
    return {"train": _split(train, 0), "labeled": _split(empty if labeled is None else labeled, 1),
            "val": _split(empty, 0), "test": _split(empty, 0)}


def test_registry_splits_networks_and_baselines() -> None:
    assert set(NETWORKS) | set(BASELINES) == set(DETECTORS) and not set(NETWORKS) & set(BASELINES)


def test_knn_distance_is_the_mean_distance_to_the_nearest_training_images() -> None:
    """Flat images at values v differ by 28 |v - w| in Euclidean distance (784 pixels)."""
    knn = detector_class("knn")(KNNParams(n_neighbors=2))
    info = knn.fit(_splits(_flat([0.0, 0.2, 1.0])))
    assert info["epochs"] is None and info["train_images"] == 3
    scores = knn.score_samples(_flat([0.1, 0.6, 1.0]))["knn_distance"]
    # 0.1: 0.0 and 0.2 at 2.8 each; 0.6: 0.2 and 1.0 at 11.2 each; 1.0: itself (0) and 0.2 (22.4)
    np.testing.assert_allclose(scores, [2.8, 11.2, 11.2], rtol=1e-5)
    largest = detector_class("knn")(KNNParams(n_neighbors=2, method="largest"))
    largest.fit(_splits(_flat([0.0, 0.2, 1.0])))
    np.testing.assert_allclose(largest.score_samples(_flat([1.0]))["knn_distance"], [22.4], rtol=1e-5)


def test_iforest_isolates_an_outlier_first() -> None:
    rng = np.random.default_rng(0)
    inliers = np.clip(0.1 + 0.02 * rng.standard_normal((200, 28, 28)), 0, 1).astype(np.float32)
    forest = detector_class("iforest")(IForestParams(n_estimators=50))
    forest.fit(_splits(inliers))
    scores = forest.score_samples(np.concatenate([inliers[:20], _flat([0.9, 0.5])]))["isolation"]
    assert scores[-2:].min() > scores[:20].max()


def test_gbt_separates_two_obviously_different_groups_and_needs_labels() -> None:
    rng = np.random.default_rng(1)
    dark = np.clip(0.1 + 0.05 * rng.standard_normal((60, 28, 28)), 0, 1).astype(np.float32)
    bright = np.clip(0.8 + 0.05 * rng.standard_normal((60, 28, 28)), 0, 1).astype(np.float32)
    gbt = detector_class("gbt")(GBTParams(max_iter=20))
    assert gbt.fit(_splits(dark[:40], bright[:40]))["train_images"] == 80
    scores = gbt.score_samples(np.concatenate([dark[40:], bright[40:]]))["log_odds"]
    assert roc_auc_score(np.r_[np.zeros(20), np.ones(20)], scores) == 1.0
    assert gbt.uses_training_labels("log_odds")
    with pytest.raises(ProtocolError, match="labeled anomalies"):
        detector_class("gbt")(GBTParams()).fit(_splits(dark))


@pytest.mark.parametrize("name", BASELINES)
def test_baseline_checkpoint_round_trip(name: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, size=(40, 28, 28), dtype=np.uint8)
    cls = detector_class(name)
    detector = cls(cls.params_class(max_iter=5) if name == "gbt" else cls.params_class())
    detector.fit(_splits(images[:20], images[20:]))
    detector.save(tmp_path / "model.pt")
    loaded = cls.load(tmp_path / "model.pt")
    assert loaded.params == detector.params
    np.testing.assert_array_equal(loaded.decision_function(images), detector.decision_function(images))
    other = next(b for b in BASELINES if b != name)
    with pytest.raises(CheckpointError, match=f"detector '{name}', expected '{other}'"):
        detector_class(other).load(tmp_path / "model.pt")


def _entry(name: str, baseline: bool, auroc: float, std: float | None = 0.002, seeds: int = 3,
           labels: bool = False) -> Entry:
    return Entry(name, baseline, labels, auroc, std, seeds, 1.0 if baseline else 100.0)


def test_verdict_picks_a_detector_only_beyond_the_seed_spread() -> None:
    beyond = verdict([_entry("ae", False, 0.94), _entry("knn", True, 0.92)], labels=False)
    assert "pick `ae`: +0.020, beyond the seed spread (0.002)" in beyond
    within = verdict([_entry("ae", False, 0.921), _entry("knn", True, 0.92, std=0.004)], labels=False)
    assert "pick `knn`: `ae` is within the seed spread of it (+0.001 against 0.004) at 100x the fit time" in within
    below = verdict([_entry("vae", False, 0.91), _entry("knn", True, 0.92)], labels=False)
    assert "pick `knn`: ahead of `vae` by 0.010, beyond the seed spread (0.002), at 1/100 of its fit time" in below
    one_seed = verdict([_entry("ae", False, 0.94, None, 1), _entry("knn", True, 0.92, None, 1)], labels=False)
    assert "pick `ae` on this one seed (+0.020)" in one_seed


def test_verdict_settings_keep_labeled_contenders_apart() -> None:
    """A labeled baseline never competes in the unsupervised setting; with labels every
    baseline does, and only detectors that use labels are judged."""
    found = [_entry("ae", False, 0.93), _entry("knn", True, 0.92), _entry("gbt", True, 0.99, labels=True),
             _entry("gan", False, 0.985, labels=True)]
    assert "best baseline `knn`" in verdict(found, labels=False)
    labeled = verdict(found, labels=True)
    assert "best detector `gan`" in labeled and "best baseline `gbt`" in labeled
    assert verdict([_entry("ae", False, 0.93)], labels=False) is None
