"""Stage `prepare`: imbalance-aware, disjoint splits saved as compact uint8 arrays + a manifest.

Splits (all indices point into the official sets, ``source`` says which):
- ``train``: unlabeled training images, the normal ones plus ``train_contamination`` anomalies;
- ``labeled``: labeled anomalies for semi-supervised detectors (Kim et al.'s GAN), sampled at
  random or with k-means per anomaly class;
- ``val``: stratified slice of the official training set (thresholds, early stopping);
- ``test``: the official test set, restricted to the protocol's classes.

Under the unseen-anomaly protocol (``protocol.labeled_classes`` a subset of the anomaly classes)
the labeled anomalies, the contamination and validation's anomalies come from those classes
only, so nothing fitted or tuned has seen an image of the other anomaly classes; test holds all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

from fmnist_ad.atomic import atomic_dir
from fmnist_ad.errors import MissingInputError, UserError
from fmnist_ad.idx import read_split
from fmnist_ad.params.sections import CLASS_NAMES, ProtocolParams

SPLITS = ("train", "labeled", "val", "test")
PCA_DIMS = 32
SOURCE = {"train": "train", "labeled": "train", "val": "train", "test": "t10k"}


class ProtocolError(UserError, ValueError):
    """The protocol asks for more images than the data has."""


@dataclass(frozen=True)
class Split:
    """One split in memory: uint8 images (N, 28, 28), classes, 0/1 labels, original indices."""

    images: np.ndarray
    classes: np.ndarray
    labels: np.ndarray
    index: np.ndarray

    def subset(self, mask: np.ndarray) -> Split:
        return Split(self.images[mask], self.classes[mask], self.labels[mask], self.index[mask])


def _labels(classes: np.ndarray, protocol: ProtocolParams) -> np.ndarray:
    return np.isin(classes, protocol.anomaly_classes).astype(np.uint8)


def _subsample_share(idx: np.ndarray, classes: np.ndarray, protocol: ProtocolParams,
                     share: float | None, rng: np.random.Generator) -> np.ndarray:
    """Keep all normals and a random, class-proportional subset of anomalies at ``share``."""
    if share is None:
        return idx
    anomalous = np.isin(classes[idx], protocol.anomaly_classes)
    normals, anomalies = idx[~anomalous], idx[anomalous]
    wanted = int(round(share * len(normals) / (1 - share)))
    if wanted > len(anomalies):
        raise ProtocolError(
            f"an anomaly share of {share} needs {wanted} anomalies but only {len(anomalies)} "
            "exist; lower the share"
        )
    if wanted < len(anomalies):
        anomalies, _ = train_test_split(anomalies, train_size=wanted, stratify=classes[anomalies],
                                        random_state=int(rng.integers(2**31)))
    return np.sort(np.concatenate([normals, anomalies]))


def kmeans_sample(images: np.ndarray, count: int, clusters: int, seed: int) -> np.ndarray:
    """Pick ``count`` rows of ``images`` (one class): k-means, then each cluster in proportion to its size.

    This is Kim et al.'s sampling of labeled anomalies: it covers the modes of the class instead
    of whatever a random draw happens to hit.
    """
    if count >= len(images):
        return np.arange(len(images))
    k = min(clusters, count)
    flat = images.reshape(len(images), -1).astype(np.float32) / 255.0
    # k-means on 784 raw pixels costs ~10 s per class on 2 cores; 32 principal components keep
    # the cluster structure at a twentieth of the cost
    # one thread: BLAS and OpenMP split their float32 sums by thread, and the last bits they
    # change moved points between clusters, so the picks (the labeled split, every detector that
    # trains on it) depended on the machine's core count (seed 7, T-shirt: 1 vs 2 threads)
    with threadpool_limits(limits=1):
        reduced = PCA(n_components=min(PCA_DIMS, *flat.shape), random_state=seed).fit_transform(flat)
        assign = KMeans(n_clusters=k, n_init=1, random_state=seed).fit_predict(reduced)
    sizes = np.bincount(assign, minlength=k)
    quota = np.floor(sizes / sizes.sum() * count).astype(int)
    # hand the rounding remainder to the largest fractional parts
    remainder = count - quota.sum()
    order = np.argsort(-(sizes / sizes.sum() * count - quota), kind="stable")
    quota[order[:remainder]] += 1
    rng = np.random.default_rng(seed)
    picked = [rng.choice(np.flatnonzero(assign == c), size=q, replace=False) for c, q in enumerate(quota) if q]
    return np.sort(np.concatenate(picked))


def build_splits(train_images: np.ndarray, train_classes: np.ndarray, test_images: np.ndarray,
                 test_classes: np.ndarray, protocol: ProtocolParams) -> dict[str, Split]:
    """Build the four splits; raise :class:`ProtocolError` before any k-means if counts don't fit."""
    rng = np.random.default_rng(protocol.seed)
    used = protocol.normal_classes + protocol.anomaly_classes
    train_pool = np.flatnonzero(np.isin(train_classes, used))
    if protocol.val_size >= len(train_pool):
        raise ProtocolError(f"protocol.val_size {protocol.val_size} leaves no training images "
                            f"(only {len(train_pool)} of the protocol's classes); lower it")
    rest, val_idx = train_test_split(train_pool, test_size=protocol.val_size,
                                     stratify=train_classes[train_pool], random_state=protocol.seed)
    rest = np.sort(rest)
    normal_idx = rest[np.isin(train_classes[rest], protocol.normal_classes)]
    seen = protocol.seen_classes
    anomaly_pool = rest[np.isin(train_classes[rest], seen)]

    c = protocol.train_contamination
    n_contam = int(round(c * len(normal_idx) / (1 - c)))
    if protocol.labeled_anomalies == "auto":  # as many as the normals, within what is left
        n_labeled = min(len(normal_idx), len(anomaly_pool) - n_contam)
        n_labeled -= n_labeled % len(seen)
    else:
        n_labeled = protocol.labeled_anomalies
    per_class = n_labeled // len(seen)
    if n_contam + n_labeled > len(anomaly_pool) or (
        n_labeled and per_class * len(seen) > len(anomaly_pool)):
        raise ProtocolError(
            f"the protocol needs {n_contam} contaminating + {n_labeled} labeled anomalies but the "
            f"training set has only {len(anomaly_pool)} anomalies after validation; lower "
            "protocol.labeled_anomalies or protocol.train_contamination"
        )
    contam_idx = np.sort(rng.choice(anomaly_pool, size=n_contam, replace=False)) if n_contam else anomaly_pool[:0]
    remaining = np.setdiff1d(anomaly_pool, contam_idx)

    labeled_parts = []
    if n_labeled:
        for cls in seen:
            cls_idx = remaining[train_classes[remaining] == cls]
            if per_class > len(cls_idx):
                raise ProtocolError(
                    f"protocol.labeled_anomalies {n_labeled} needs {per_class} images of class "
                    f"{cls} ({CLASS_NAMES[cls]}) but only {len(cls_idx)} are left; lower it"
                )
            if protocol.anomaly_sampling == "kmeans":
                chosen = kmeans_sample(train_images[cls_idx], per_class, protocol.kmeans_clusters,
                                       protocol.seed + cls)
                labeled_parts.append(cls_idx[chosen])
            else:
                labeled_parts.append(rng.choice(cls_idx, size=per_class, replace=False))
    labeled_idx = np.sort(np.concatenate(labeled_parts)) if labeled_parts else anomaly_pool[:0]

    train_idx = np.sort(np.concatenate([normal_idx, contam_idx]))
    val_idx = np.sort(val_idx[~np.isin(train_classes[val_idx], protocol.unseen_classes)])
    val_idx = _subsample_share(val_idx, train_classes, protocol, protocol.val_anomaly_share, rng)
    test_idx = np.flatnonzero(np.isin(test_classes, used))
    test_idx = _subsample_share(test_idx, test_classes, protocol, protocol.test_anomaly_share, rng)

    def split(images: np.ndarray, classes: np.ndarray, idx: np.ndarray) -> Split:
        return Split(images[idx], classes[idx], _labels(classes[idx], protocol), idx.astype(np.int64))

    return {
        "train": split(train_images, train_classes, train_idx),
        "labeled": split(train_images, train_classes, labeled_idx),
        "val": split(train_images, train_classes, val_idx),
        "test": split(test_images, test_classes, test_idx),
    }


def manifest(splits: dict[str, Split], protocol: ProtocolParams) -> dict:
    """Counts per split and class, the indices, the seed and the protocol: enough to audit a split."""
    out: dict = {"protocol": protocol.model_dump(), "seed": protocol.seed, "class_names": list(CLASS_NAMES),
                 "splits": {}}
    for name, s in splits.items():
        counts = {str(c): int((s.classes == c).sum()) for c in np.unique(s.classes)}
        out["splits"][name] = {
            "source": SOURCE[name],
            "size": int(len(s.index)),
            "normal": int((s.labels == 0).sum()),
            "anomaly": int((s.labels == 1).sum()),
            "per_class": counts,
            "index": s.index.tolist(),
        }
    return out


def prepare(raw_dir: Path, out_dir: Path, protocol: ProtocolParams) -> dict[str, Split]:
    """Read the raw IDX files, build the splits and write them atomically to ``out_dir``."""
    train_images, train_classes = read_split(raw_dir, "train")
    test_images, test_classes = read_split(raw_dir, "t10k")
    splits = build_splits(train_images, train_classes, test_images, test_classes, protocol)
    with atomic_dir(out_dir) as tmp:
        arrays = {f"{n}_{field}": getattr(s, field) for n, s in splits.items()
                  for field in ("images", "classes", "labels", "index")}
        np.savez(tmp / "splits.npz", **arrays)
        (tmp / "manifest.json").write_text(json.dumps(manifest(splits, protocol), indent=1) + "\n")
    return splits


def load_splits(prepared_dir: Path) -> dict[str, Split]:
    """Load the prepared splits into memory (uint8, a few tens of MB at most)."""
    path = Path(prepared_dir) / "splits.npz"
    if not path.is_file():
        raise MissingInputError(f"{path}: missing; run the `prepare` stage first (dvc repro prepare)")
    with np.load(path) as data:
        return {n: Split(*(data[f"{n}_{f}"] for f in ("images", "classes", "labels", "index")))
                for n in SPLITS}
