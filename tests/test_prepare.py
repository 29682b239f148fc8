"""Stage `prepare`: split invariants on synthetic data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import synthetic_images
from fmnist_ad.params.sections import ProtocolParams
from fmnist_ad.prepare import ProtocolError, build_splits, kmeans_sample, load_splits, prepare


def _data(per_class_train: int = 60, per_class_test: int = 20):
    trc = np.tile(np.arange(10, dtype=np.uint8), per_class_train)
    tec = np.tile(np.arange(10, dtype=np.uint8), per_class_test)
    return synthetic_images(trc, 0), trc, synthetic_images(tec, 1), tec


def _protocol(**kw) -> ProtocolParams:
    base = dict(normal_classes=[0], anomaly_classes=list(range(1, 10)), val_size=100, labeled_anomalies=45,
                kmeans_clusters=3)
    return ProtocolParams(**(base | kw))


def test_splits_are_disjoint_and_counted() -> None:
    splits = build_splits(*_data(), _protocol())
    train_side = [set(splits[n].index.tolist()) for n in ("train", "labeled", "val")]
    for i in range(3):
        for j in range(i + 1, 3):
            assert not train_side[i] & train_side[j]
    assert len(splits["val"].index) == 100
    # stratified: 10 per class in validation
    assert np.bincount(splits["val"].classes, minlength=10).tolist() == [10] * 10
    assert set(splits["train"].classes.tolist()) == {0}           # clean one-class training
    assert len(splits["train"].index) == 50
    assert len(splits["test"].index) == 200
    assert (splits["test"].labels == (splits["test"].classes != 0)).all()
    assert (splits["labeled"].labels == 1).all()


def test_labeled_anomalies_equal_per_class() -> None:
    for sampling in ("kmeans", "random"):
        splits = build_splits(*_data(), _protocol(anomaly_sampling=sampling))
        assert np.bincount(splits["labeled"].classes, minlength=10).tolist() == [0] + [5] * 9


def test_contamination_share() -> None:
    splits = build_splits(*_data(), _protocol(normal_classes=[0, 1, 2, 3, 4, 6, 7, 8, 9], anomaly_classes=[5],
                                              train_contamination=0.1, labeled_anomalies=0))
    train = splits["train"]
    assert train.labels.mean() == pytest.approx(0.1, abs=0.01)
    assert (train.classes[train.labels == 1] == 5).all()


def test_auto_labeled_matches_normal_count() -> None:
    splits = build_splits(*_data(), _protocol(labeled_anomalies="auto"))
    assert len(splits["labeled"].index) == 45          # 50 normals -> 5 per class x 9 classes


def test_anomaly_share_subsampling() -> None:
    splits = build_splits(*_data(), _protocol(test_anomaly_share=0.5, val_anomaly_share=0.5))
    for name in ("val", "test"):
        assert splits[name].labels.mean() == pytest.approx(0.5, abs=0.02)


def test_same_seed_same_splits_other_seed_differs() -> None:
    a = build_splits(*_data(), _protocol())
    b = build_splits(*_data(), _protocol())
    c = build_splits(*_data(), _protocol(seed=7))
    for name in a:
        assert np.array_equal(a[name].index, b[name].index)
    assert not np.array_equal(a["val"].index, c["val"].index)


def test_too_many_labeled_anomalies_is_refused() -> None:
    with pytest.raises(ProtocolError, match="labeled_anomalies"):
        build_splits(*_data(), _protocol(labeled_anomalies=10_000))


def test_kmeans_sample_count_and_uniqueness() -> None:
    images = synthetic_images(np.repeat(np.arange(3, dtype=np.uint8), 20), 3)
    picked = kmeans_sample(images, 17, clusters=3, seed=0)
    assert len(picked) == 17 and len(set(picked.tolist())) == 17
    # proportional quota: each of the three equal-sized clusters gets 5 or 6
    assert sorted(np.bincount(picked // 20, minlength=3).tolist()) == [5, 6, 6]


def test_kmeans_sample_runs_on_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """The picks must not depend on the machine's cores: with two threads, the float32 sums of
    PCA and k-means changed the labeled split of the real data (T-shirt, seed 7)."""
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_info

    import fmnist_ad.prepare as prepare_module

    seen: list[int] = []

    class RecordingKMeans(KMeans):
        def fit_predict(self, X, y=None, sample_weight=None):  # noqa: N803 (scikit-learn's name)
            seen.extend(pool["num_threads"] for pool in threadpool_info())
            return super().fit_predict(X, y, sample_weight)

    monkeypatch.setattr(prepare_module, "KMeans", RecordingKMeans)
    kmeans_sample(synthetic_images(np.repeat(np.arange(3, dtype=np.uint8), 20), 3), 17, clusters=3, seed=0)
    assert seen and set(seen) == {1}


def test_prepare_writes_arrays_and_manifest(mirror, tmp_path: Path) -> None:
    from fmnist_ad.download import fetch
    from fmnist_ad.params.sections import DataParams

    folder, digests = mirror
    fetch(DataParams(mirrors=[str(folder)], download=False, sha256=digests), tmp_path / "raw")
    prepare(tmp_path / "raw", tmp_path / "prepared", _protocol(val_size=60))
    manifest = json.loads((tmp_path / "prepared" / "manifest.json").read_text())
    loaded = load_splits(tmp_path / "prepared")
    for name, split in loaded.items():
        assert split.images.dtype == np.uint8
        assert manifest["splits"][name]["index"] == split.index.tolist()
        assert manifest["splits"][name]["size"] == len(split.index)
    assert manifest["seed"] == 42 and manifest["protocol"]["normal_classes"] == [0]


def test_unseen_protocol_labels_and_validates_with_its_classes_only() -> None:
    """labeled_classes: labeled and validation anomalies of those classes only; test keeps all."""
    splits = build_splits(*_data(), _protocol(labeled_classes=[2, 5], labeled_anomalies="auto"))
    assert np.bincount(splits["labeled"].classes, minlength=10).tolist() == [0, 0, 25, 0, 0, 25, 0, 0, 0, 0]
    val = splits["val"]
    assert set(val.classes[val.labels == 1].tolist()) == {2, 5} and (val.classes == 0).sum() == 10
    assert set(splits["test"].classes.tolist()) == set(range(10))
    assert _protocol(labeled_classes=[2, 5]).unseen_classes == [1, 3, 4, 6, 7, 8, 9]
    # Kim et al.'s protocol (the default) sees every anomaly class
    assert _protocol().unseen_classes == [] and _protocol().seen_classes == list(range(1, 10))


def test_unseen_protocol_splits_equal_the_default_apart_from_labels_and_validation() -> None:
    """Normals and test are the same images as under the default protocol, so unsupervised
    detectors score the same test set and only the labeled anomalies differ."""
    default = build_splits(*_data(), _protocol())
    unseen = build_splits(*_data(), _protocol(labeled_classes=[1]))
    for name in ("train", "test"):
        assert np.array_equal(default[name].index, unseen[name].index)
    normal_val = [s["val"].index[s["val"].labels == 0] for s in (default, unseen)]
    assert np.array_equal(*normal_val)


@pytest.mark.parametrize("labeled", [[0], [1, 1], []])
def test_labeled_classes_must_be_distinct_anomaly_classes(labeled: list[int]) -> None:
    with pytest.raises(ValueError, match="labeled_classes"):
        _protocol(labeled_classes=labeled)
