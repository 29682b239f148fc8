"""Baseline: PyOD's k-nearest-neighbour detector on raw pixels (unsupervised)."""

from __future__ import annotations

import numpy as np

from fmnist_ad.detectors.pixels import PixelDetector
from fmnist_ad.params.knn import KNNParams


class KNNDetector(PixelDetector):
    """``knn_distance``: the Euclidean distance of an image's pixels to its ``n_neighbors``
    nearest training images, combined by ``method`` (``mean``: their mean; ``largest``: the
    k-th). The simplest one-class detector there is, and on FashionMNIST a strong one."""

    name = "knn"
    params_class = KNNParams
    params: KNNParams

    def build_estimator(self):
        from pyod.models.knn import KNN

        return KNN(n_neighbors=self.params.n_neighbors, method=self.params.method)

    def _scores(self, x: np.ndarray) -> dict[str, np.ndarray]:
        return {"knn_distance": self.estimator.decision_function(x)}
