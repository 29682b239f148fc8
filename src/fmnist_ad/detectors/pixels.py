"""Baselines: off-the-shelf estimators on raw pixels, behind the same :class:`Detector` interface
as the networks, so that they run through the same stages, splits, thresholds and tables.

They answer the question every result here must face: does a detector beat what a user fits in
a line and a few seconds? Each sees an image as its 784 pixels in [0, 1] (the networks' input).
"""

from __future__ import annotations

import os
import pickle
import time
from abc import abstractmethod
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fmnist_ad.detectors.base import CheckpointError, Detector
from fmnist_ad.prepare import ProtocolError, Split
from fmnist_ad.tensors import to_tensor


def pixels(images: np.ndarray | torch.Tensor) -> np.ndarray:
    """Images as float32 rows of 784 pixels in [0, 1] (inputs checked as for the networks)."""
    x = to_tensor(images)
    return x.reshape(len(x), -1).numpy()


class PixelDetector(Detector):
    """An estimator fitted once on pixels: ``build_estimator`` makes it from params, ``_scores``
    turns pixel rows into named scores (higher = more anomalous). Unsupervised by default (fitted
    on the unlabeled training split); :class:`LabeledPixelDetector` fits normals against the
    labeled anomalies. The fitted estimator is pickled into the checkpoint."""

    fit_stage = "fit"

    def __init__(self, params) -> None:
        super().__init__(params)
        self.estimator: Any = None

    @abstractmethod
    def build_estimator(self) -> Any:
        """The unfitted estimator, from params (its ``random_state`` from ``params.seed``)."""

    @abstractmethod
    def _scores(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Named scores of pixel rows ``x`` (N, 784)."""

    def training_data(self, splits: dict[str, Split]) -> tuple[np.ndarray, np.ndarray | None]:
        """Pixel rows to fit on and their 0/1 targets (None: unsupervised)."""
        return pixels(splits["train"].images), None

    def fit(self, splits: dict[str, Split], work_dir: Path | None = None, resume: bool = False,
            progress_bar: bool = True) -> dict[str, Any]:
        """One ``fit`` call (nothing to resume); the record has no epochs."""
        x, y = self.training_data(splits)
        estimator = self.build_estimator()
        start = time.perf_counter()
        estimator.fit(x) if y is None else estimator.fit(x, y)
        seconds = time.perf_counter() - start
        self.estimator = estimator
        return {"epochs": None, "best_epoch": None, "train_seconds": round(seconds, 2), "resumed": False,
                "device": "cpu", "threads": len(os.sched_getaffinity(0)), "train_images": len(x),
                "is_global_zero": True}

    def score_samples(self, images: np.ndarray | torch.Tensor) -> dict[str, np.ndarray]:
        if self.estimator is None:
            raise RuntimeError(f"{self.name}: score_samples called before fit")
        x = pixels(images)
        if not len(x):
            return {name: np.zeros(0) for name in self.score_names}
        return {name: np.asarray(s, dtype=np.float64) for name, s in self._scores(x).items()}

    def state(self) -> dict[str, Any]:
        if self.estimator is None:
            raise RuntimeError(f"{self.name}: save called before fit")
        return {"estimator": pickle.dumps(self.estimator, protocol=pickle.HIGHEST_PROTOCOL)}

    def restore(self, state: dict[str, Any], path: Path) -> None:
        try:
            self.estimator = pickle.loads(state["estimator"])
        except Exception as err:  # noqa: BLE001 - a library version that cannot read it, a bad file
            raise CheckpointError(f"{path}: the fitted {self.name} estimator cannot be read ({err}); "
                                  f"refit with `dvc repro {self.fit_stage}@{self.name}`") from err


class LabeledPixelDetector(PixelDetector):
    """A classifier of the unlabeled training split (taken as normal, 0) against the labeled
    anomalies (1): it uses training labels, and knows only the anomaly classes they show."""

    def training_data(self, splits: dict[str, Split]) -> tuple[np.ndarray, np.ndarray | None]:
        normal, anomalies = splits["train"].images, splits["labeled"].images
        if not len(anomalies):
            raise ProtocolError(f"the {self.name} baseline classifies normals against labeled anomalies: "
                                "set protocol.labeled_anomalies > 0")
        x = pixels(np.concatenate([normal, anomalies]))
        return x, np.concatenate([np.zeros(len(normal)), np.ones(len(anomalies))]).astype(np.int64)
