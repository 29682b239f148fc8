"""Stage `score@M`: per-image scores of the validation and test splits."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from fmnist_ad.atomic import atomic_dir
from fmnist_ad.detectors import detector_class
from fmnist_ad.params import load_params
from fmnist_ad.prepare import Split, load_splits

#: per-split count of example images kept for reconstruction grids (normal and anomalous each)
RECON_EXAMPLES = 8


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def score_table(detector, split: Split) -> pd.DataFrame:
    scores = detector.score_samples(split.images)
    return pd.DataFrame({"index": split.index, "class": split.classes, "label": split.labels, **scores})


def _examples(split: Split, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    picks = [rng.choice(np.flatnonzero(split.labels == y), size=min(RECON_EXAMPLES, int((split.labels == y).sum())),
                        replace=False) for y in (0, 1)]
    return np.sort(np.concatenate(picks))


def run_score(params_path: Path, name: str, prepared: Path, model_dir: Path, out_dir: Path) -> None:
    section = getattr(load_params(params_path), name)
    detector = detector_class(name).load(model_dir / "model.pt", section)
    splits = load_splits(prepared)
    with atomic_dir(out_dir) as tmp:
        for name in ("val", "test"):
            score_table(detector, splits[name]).to_csv(tmp / f"{name}.csv", index=False, float_format="%.9g")
        if detector.reconstructs:  # the networks: example reconstructions for the figures
            test = splits["test"]
            pick = _examples(test, section.seed)
            np.savez_compressed(tmp / "reconstructions.npz", images=test.images[pick], labels=test.labels[pick],
                                index=test.index[pick], reconstructions=detector.reconstruct(test.images[pick]))
        # which checkpoint these scores (and so the thresholds fitted on them) belong to
        (tmp / "model.json").write_text(json.dumps({
            "model": name, "main_score": detector.main_score,
            "checkpoint_sha256": file_sha256(model_dir / "model.pt")}, indent=1) + "\n")
