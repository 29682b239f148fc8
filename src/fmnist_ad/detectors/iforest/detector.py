"""Baseline: PyOD's Isolation Forest on raw pixels (unsupervised)."""

from __future__ import annotations

import numpy as np

from fmnist_ad.detectors.pixels import PixelDetector
from fmnist_ad.params.iforest import IForestParams


class IForestDetector(PixelDetector):
    """``isolation``: how few random axis-aligned splits isolate an image's pixels from the
    training images (PyOD's sign: higher = easier to isolate = more anomalous)."""

    name = "iforest"
    params_class = IForestParams
    params: IForestParams

    def build_estimator(self):
        from pyod.models.iforest import IForest

        return IForest(n_estimators=self.params.n_estimators, max_samples=self.params.max_samples,
                       random_state=self.params.seed)

    def _scores(self, x: np.ndarray) -> dict[str, np.ndarray]:
        return {"isolation": self.estimator.decision_function(x)}
