"""Dual-discriminator GAN detector: anomaly score = reconstruction error of the generator."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import torch

from fmnist_ad.detectors.base import Detector
from fmnist_ad.detectors.gan.data import paired_loader
from fmnist_ad.detectors.gan.loss import per_image_l1, per_image_mse
from fmnist_ad.detectors.gan.model import GANModel, resize
from fmnist_ad.params.gan import GANParams
from fmnist_ad.prepare import ProtocolError, Split
from fmnist_ad.tensors import batch_loader, to_tensor

if TYPE_CHECKING:
    import lightning.pytorch as L


class GANDetector(Detector):
    """Kim et al.'s GAN: a generator taught to reconstruct normals (judged by D_n) and to fail on
    labeled anomalies (judged by D_a and the ABC loss). Scores ``l1`` and ``mse`` are per-image
    reconstruction errors at the networks' resolution (32x32 for ``paper``).

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

    def _score_batch(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.model.to_input(x)
        recon = self.model(x)
        return {"l1": per_image_l1(x, recon), "mse": per_image_mse(x, recon)}

    def _reconstruct_batch(self, x: torch.Tensor) -> torch.Tensor:
        return resize(self.model(self.model.to_input(x)), x.shape[-1])
