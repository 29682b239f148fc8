"""Baseline: scikit-learn's gradient-boosted trees classifying normals against the labeled
anomalies, on raw pixels (uses training labels)."""

from __future__ import annotations

import numpy as np

from fmnist_ad.detectors.pixels import LabeledPixelDetector
from fmnist_ad.params.gbt import GBTParams


class GBTDetector(LabeledPixelDetector):
    """``log_odds``: the classifier's log-odds that an image is one of the labeled anomalies.
    Under Kim et al.'s protocol the labeled anomalies cover every anomaly class, so this is plain
    classification; under the unseen-anomaly protocol it shows what a classifier misses."""

    name = "gbt"
    params_class = GBTParams
    params: GBTParams

    def build_estimator(self):
        from sklearn.ensemble import HistGradientBoostingClassifier

        p = self.params
        return HistGradientBoostingClassifier(max_iter=p.max_iter, learning_rate=p.learning_rate,
                                              max_leaf_nodes=p.max_leaf_nodes, early_stopping=False,
                                              random_state=p.seed)

    def _scores(self, x: np.ndarray) -> dict[str, np.ndarray]:
        return {"log_odds": self.estimator.decision_function(x)}
