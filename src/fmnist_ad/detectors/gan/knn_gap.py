"""``knn_gap``, the GAN's main score: where an image's features lie between the training normals
and the labeled anomalies (shared by scoring and by the validation that picks the checkpoint)."""

from __future__ import annotations

import torch

from fmnist_ad.detectors.gan.model import GANModel
from fmnist_ad.knn import KNN


#: the scores a :class:`KNNGap` gives: ``knn_gap`` on the whole :meth:`GANModel.knn_features`
#: (code and image), ``knn_gap_pixels`` on their image half alone, a control that needs no network
#: and shows what the code adds (docs/detectors.md)
KNN_SCORES = ("knn_gap", "knn_gap_pixels")
#: the image half of :meth:`GANModel.knn_features` comes last: the 28 x 28 pixels
IMAGE_COLUMNS = 28 * 28


def columns(features: torch.Tensor, score: str) -> torch.Tensor:
    """The columns of ``knn_features`` rows that ``score`` (one of :data:`KNN_SCORES`) compares."""
    return features[:, -IMAGE_COLUMNS:] if score == "knn_gap_pixels" else features


class KNNGap:
    """Mean Euclidean distance to the ``k`` nearest normal reference vectors minus that to the
    ``k`` nearest labeled-anomaly vectors: positive when an image is nearer the known anomalies."""

    def __init__(self, k: int) -> None:
        self.normal = KNN(k, metric="euclidean")
        self.anomaly = KNN(k, metric="euclidean")

    @property
    def fitted(self) -> bool:
        return self.normal.points is not None

    def fit(self, normal: torch.Tensor, anomaly: torch.Tensor) -> KNNGap:
        self.normal.fit(normal)
        self.anomaly.fit(anomaly)
        return self

    def score(self, features: torch.Tensor) -> torch.Tensor:
        return self.normal.distance(features) - self.anomaly.distance(features)


@torch.inference_mode()
def knn_features_of(model: GANModel, images: torch.Tensor, batch_size: int, device: torch.device) -> torch.Tensor:
    """:meth:`GANModel.knn_features` of float images (N, 1, 28, 28), in batches, on ``device``."""
    return torch.cat([model.knn_features(chunk.to(device)) for chunk in images.split(batch_size)])
