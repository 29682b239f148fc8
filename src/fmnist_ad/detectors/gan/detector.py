"""Dual-discriminator GAN detector: anomaly scores from the generator's reconstruction error and
from where its code and the image lie among the training images."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from fmnist_ad.detectors.base import CheckpointError
from fmnist_ad.detectors.gan.data import paired_loader
from fmnist_ad.detectors.gan.knn_gap import KNN_SCORES, KNNGap, columns, knn_features_of
from fmnist_ad.detectors.gan.loss import per_image_l1, per_image_mse
from fmnist_ad.detectors.gan.model import GANModel, resize
from fmnist_ad.detectors.network import NetworkDetector
from fmnist_ad.params.gan import GANParams
from fmnist_ad.prepare import ProtocolError, Split
from fmnist_ad.tensors import batch_loader, to_tensor

if TYPE_CHECKING:
    import lightning.pytorch as L


class GANDetector(NetworkDetector):
    """Kim et al.'s GAN: a generator taught to reconstruct normals (judged by D_n) and to fail on
    labeled anomalies (judged by D_a and the ABC loss). Scores ``l1`` and ``mse`` are per-image
    reconstruction errors at the networks' resolution (32x32 for ``unet``; the paper's score).
    ``knn_gap`` compares vectors instead (:meth:`GANModel.knn_features`: the encoder's
    bottleneck code and the image, each at unit length): the mean Euclidean distance to the
    ``knn_k`` nearest vectors of the unlabeled training split minus that to the nearest ones of
    the labeled anomalies (positive: nearer the anomalies). Where the reconstruction error only
    says "not a T-shirt", the vectors also keep what a known anomaly looks like (docs/detectors.md).
    ``knn_gap_pixels``, the same gap on the image half alone, is a control with no network: what
    ``knn_gap`` owes to the code is its lead over it. All use training labels: the generator
    learned to fail on the labeled anomalies, and the gaps compare with them.

    Trains for ``epochs`` without early stopping; the checkpoint kept is the one with the best
    validation AUROC of the main score, so validation anomalies steer model selection as in the
    paper.
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
        self.knn_gaps = {name: KNNGap(params.knn_k) for name in KNN_SCORES}

    def build_model(self) -> GANModel:
        return GANModel(self.params.arch)

    def lightning_module(self, splits: dict[str, Split]) -> L.LightningModule:
        """Validation's ``knn_gap`` compares with the training normals and labeled anomalies."""
        from fmnist_ad.detectors.gan.module import GANModule  # Lightning: only when training

        return GANModule(self.model, self.params, _references(splits))

    def loaders(self, splits: dict[str, Split]) -> tuple[Iterable, Iterable]:
        if len(splits["labeled"].images) == 0:
            raise ProtocolError("the GAN needs labeled anomalies: set protocol.labeled_anomalies > 0")
        val = splits["val"]
        if len(np.unique(val.labels)) < 2:
            raise ProtocolError("the GAN keeps the checkpoint with the best validation AUROC, which needs "
                                "normals and anomalies in validation; this protocol's validation holds one "
                                "class: raise protocol.val_size or val_anomaly_share")
        train = paired_loader(*_references(splits), batch_size=self.params.batch_size, seed=self.params.seed)
        return train, batch_loader(to_tensor(val.images), torch.as_tensor(val.labels, dtype=torch.long),
                                   batch_size=self.params.eval_batch_size, shuffle=False)

    @property
    def patience(self) -> int | None:
        return None

    def knn_features(self, images: np.ndarray | torch.Tensor) -> torch.Tensor:
        """:meth:`GANModel.knn_features` of ``images`` (N, 256 + 784 for ``unet``), on the CPU."""
        self.model.to(self.device).eval()
        return knn_features_of(self.model, to_tensor(images), self.params.eval_batch_size, self.device).cpu()

    def after_fit(self, splits: dict[str, Split]) -> None:
        """Reference vectors: the unlabeled training split and the labeled anomalies."""
        self._fit_gaps(self.knn_features(splits["train"].images), self.knn_features(splits["labeled"].images))

    def _fit_gaps(self, normal: torch.Tensor, anomaly: torch.Tensor) -> None:
        for name, gap in self.knn_gaps.items():
            gap.fit(columns(normal, name), columns(anomaly, name))

    def extra_state(self) -> dict[str, Any]:
        gap = self.knn_gaps["knn_gap"]  # the whole vectors; the control's are their image half
        return {"features_normal": gap.normal.points.cpu(), "features_anomaly": gap.anomaly.points.cpu()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        if "features_normal" not in state:
            raise CheckpointError("checkpoint from before knn_gap compared code and image; retrain "
                                  "with `dvc repro train@gan`")
        self._fit_gaps(state["features_normal"], state["features_anomaly"])

    def _score_batch(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x_in, recon, features = self.model.reconstruct_with_features(x)
        scores = {"l1": per_image_l1(x_in, recon), "mse": per_image_mse(x_in, recon)}
        for name, gap in self.knn_gaps.items():
            if gap.fitted:  # after fit
                scores[name] = gap.score(columns(features, name))
        return scores

    def _reconstruct_batch(self, x: torch.Tensor) -> torch.Tensor:
        return resize(self.model(self.model.to_input(x)), x.shape[-1])


def _references(splits: dict[str, Split]) -> tuple[torch.Tensor, torch.Tensor]:
    """The training normals and the labeled anomalies, as float tensors."""
    return to_tensor(splits["train"].images), to_tensor(splits["labeled"].images)
