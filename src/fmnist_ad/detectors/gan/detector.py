"""Dual-discriminator GAN detector: anomaly scores from the generator's reconstruction error and
from where its encoder puts an image among the training codes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from fmnist_ad.detectors.base import Detector
from fmnist_ad.detectors.gan.data import paired_loader
from fmnist_ad.detectors.gan.loss import per_image_l1, per_image_mse
from fmnist_ad.detectors.gan.model import GANModel, resize
from fmnist_ad.knn import KNN
from fmnist_ad.params.gan import GANParams
from fmnist_ad.prepare import ProtocolError, Split
from fmnist_ad.tensors import batch_loader, to_tensor

if TYPE_CHECKING:
    import lightning.pytorch as L


class GANDetector(Detector):
    """Kim et al.'s GAN: a generator taught to reconstruct normals (judged by D_n) and to fail on
    labeled anomalies (judged by D_a and the ABC loss). Scores ``l1`` and ``mse`` are per-image
    reconstruction errors at the networks' resolution (32x32 for ``paper``, the paper's score).
    ``knn_gap`` reads the encoder's bottleneck code instead: the mean Euclidean distance to the
    ``knn_k`` nearest codes of the unlabeled training split minus that to the nearest codes of
    the labeled anomalies (positive: nearer the anomalies). Where the reconstruction error only
    says "not a T-shirt", the code also keeps what a known anomaly looks like (docs/detectors.md).
    All three use training labels: the generator learned to fail on the labeled anomalies.

    Trains for ``epochs`` without early stopping; the checkpoint kept is the one with the best
    validation AUROC, so validation anomalies steer model selection as in the paper.
    """

    name = "gan"
    arch_keys = ("arch",)
    monitor = "val/auroc"
    monitor_mode = "max"
    partial_backward = True
    params_class = GANParams
    params: GANParams
    model: GANModel

    def __init__(self, params: GANParams) -> None:
        super().__init__(params)
        self.knn_normal = KNN(params.knn_k, metric="euclidean")
        self.knn_anomaly = KNN(params.knn_k, metric="euclidean")

    def build_model(self) -> GANModel:
        return GANModel(self.params.arch)

    def lightning_module(self) -> L.LightningModule:
        from fmnist_ad.detectors.gan.module import GANModule  # Lightning: only when training

        return GANModule(self.model, self.params)

    def loaders(self, splits: dict[str, Split]) -> tuple[Iterable, Iterable]:
        if len(splits["labeled"].images) == 0:
            raise ProtocolError("the GAN needs labeled anomalies: set protocol.labeled_anomalies > 0")
        val = splits["val"]
        train = paired_loader(to_tensor(splits["train"].images), to_tensor(splits["labeled"].images),
                                   batch_size=self.params.batch_size, seed=self.params.seed)
        return train, batch_loader(to_tensor(val.images), torch.as_tensor(val.labels, dtype=torch.long),
                                   batch_size=self.params.eval_batch_size, shuffle=False)

    @property
    def max_epochs(self) -> int:
        return self.params.epochs

    @property
    def patience(self) -> int | None:
        return None

    def encode(self, images: np.ndarray | torch.Tensor) -> torch.Tensor:
        """The generator's bottleneck codes of ``images``, flattened (N, 256 for ``paper``), on the CPU."""
        return torch.cat(self._batched(images, self._code)).cpu()

    def _code(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.generator.encode(self.model.to_input(x)).flatten(1)

    def after_fit(self, splits: dict[str, Split]) -> None:
        """Reference codes: the unlabeled training split and the labeled anomalies."""
        self.knn_normal.fit(self.encode(splits["train"].images))
        self.knn_anomaly.fit(self.encode(splits["labeled"].images))

    def extra_state(self) -> dict[str, Any]:
        return {"codes_normal": self.knn_normal.points.cpu(), "codes_anomaly": self.knn_anomaly.points.cpu()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.knn_normal.fit(state["codes_normal"])
        self.knn_anomaly.fit(state["codes_anomaly"])

    def _score_batch(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.model.to_input(x)
        recon = self.model(x)
        scores = {"l1": per_image_l1(x, recon), "mse": per_image_mse(x, recon)}
        if self.knn_normal.points is not None:  # after fit
            code = self.model.generator.encode(x).flatten(1)
            scores["knn_gap"] = self.knn_normal.distance(code) - self.knn_anomaly.distance(code)
        return scores

    def _reconstruct_batch(self, x: torch.Tensor) -> torch.Tensor:
        return resize(self.model(self.model.to_input(x)), x.shape[-1])
