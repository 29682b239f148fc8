"""AE + KDE detector: reconstruction MSE, code density, and their standardised average."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from fmnist_ad.detectors.ae.loss import ae_loss, per_image_mse
from fmnist_ad.detectors.ae.model import ConvAutoencoder
from fmnist_ad.detectors.base import Detector
from fmnist_ad.kde import GaussianKDE
from fmnist_ad.params import AEParams
from fmnist_ad.prepare import Split
from fmnist_ad.tensors import batch_loader, to_tensor

if TYPE_CHECKING:
    import lightning.pytorch as L


class AEDetector(Detector):
    """Scores: ``mse`` (reconstruction), ``kde`` (-log density of the code under the codes of
    normal training images) and ``combined`` (mean of both, z-standardised on validation normals).

    Trained on the unlabeled training split (it may hold anomalies when contaminated); early
    stopping watches the reconstruction loss of validation normals.
    """

    name = "ae"
    arch_keys = ("channels",)
    score_names = ("mse", "kde", "combined")
    params: AEParams

    def __init__(self, params: AEParams) -> None:
        super().__init__(params)
        self.kde = GaussianKDE(params.kde_bandwidth, dtype=getattr(torch, params.kde_precision))
        self.standardise: dict[str, tuple[float, float]] = {}

    def build_model(self) -> ConvAutoencoder:
        return ConvAutoencoder(tuple(self.params.channels))

    def lightning_module(self) -> L.LightningModule:
        from fmnist_ad.training import LossModule  # Lightning: only when training

        return LossModule(self.model, ae_loss, self.params.lr, self.params.weight_decay)

    def loaders(self, splits: dict[str, Split]) -> tuple[Iterable, Iterable]:
        val = splits["val"].subset(splits["val"].labels == 0)
        return (batch_loader(to_tensor(splits["train"].images), batch_size=self.params.batch_size,
                             shuffle=True, seed=self.params.seed),
                batch_loader(to_tensor(val.images), batch_size=self.params.eval_batch_size, shuffle=False))

    def encode(self, images: np.ndarray | torch.Tensor) -> torch.Tensor:
        """The 64-dimensional codes of ``images`` (N, code size), on the CPU: what the KDE sees."""
        return torch.cat(self._batched(images, self.model.encode)).cpu()

    def after_fit(self, splits: dict[str, Split]) -> None:
        """KDE on the codes of normal training images; z-statistics from validation normals."""
        train = splits["train"]
        self.kde.fit(self.encode(train.images[train.labels == 0]))
        self.standardise = {}
        val_normal = splits["val"].images[splits["val"].labels == 0]
        raw = self.score_samples(val_normal)
        self.standardise = {k: (float(raw[k].mean()), float(raw[k].std() or 1.0)) for k in self.params.combine}

    def extra_state(self) -> dict[str, Any]:
        return {"kde_points": self.kde.points, "kde_bandwidth": self.kde.bandwidth,
                "standardise": self.standardise}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.kde.restore(state["kde_points"], state["kde_bandwidth"])
        self.standardise = state["standardise"]

    def _score_batch(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        code = self.model.encode(x)
        scores = {"mse": per_image_mse(x, self.model.decode(code))}
        if self.kde.points is not None:
            scores["kde"] = -self.kde.score_samples(code)
        if self.standardise:
            z = [(scores[k].double() - mu) / sd for k, (mu, sd) in self.standardise.items()]
            scores["combined"] = torch.stack(z).mean(dim=0)
        return scores

    def _reconstruct_batch(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
