"""VAE detector: reconstruction BCE at the posterior mean and a sampled negative ELBO."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial

import lightning.pytorch as L
import numpy as np
import torch

from fmnist_ad.detectors.base import Detector
from fmnist_ad.detectors.vae.loss import kl_divergence, per_image_bce, vae_loss
from fmnist_ad.detectors.vae.model import ConvVAE
from fmnist_ad.params import VAEParams
from fmnist_ad.prepare import Split
from fmnist_ad.tensors import batch_loader, to_tensor
from fmnist_ad.training import LossModule


class VAEDetector(Detector):
    """Scores: ``bce`` (reconstruction from z = mu, deterministic) and ``elbo`` (negative ELBO,
    BCE averaged over ``elbo_samples`` draws of z plus the analytic KL).

    Trained on the normal training images only (the report's setting, even when the unlabeled
    split is contaminated); early stopping watches the loss on validation normals.
    """

    name = "vae"
    arch_keys = ("channels", "latent_dim", "hidden")
    score_names = ("bce", "elbo")
    params: VAEParams

    def __init__(self, params: VAEParams) -> None:
        super().__init__(params)
        # CPU generator: the same eps on any device, re-seeded per scoring call
        self._eps = torch.Generator()

    def build_model(self) -> ConvVAE:
        return ConvVAE(tuple(self.params.channels), self.params.latent_dim, self.params.hidden)

    def lightning_module(self) -> L.LightningModule:
        return LossModule(self.model, partial(vae_loss, beta=self.params.beta),
                          self.params.lr, self.params.weight_decay)

    def loaders(self, splits: dict[str, Split]) -> tuple[Iterable, Iterable]:
        train = splits["train"].subset(splits["train"].labels == 0)
        val = splits["val"].subset(splits["val"].labels == 0)
        return (batch_loader(to_tensor(train.images), batch_size=self.params.batch_size,
                             shuffle=True, seed=self.params.seed),
                batch_loader(to_tensor(val.images), batch_size=self.params.eval_batch_size, shuffle=False))

    def score_samples(self, images: np.ndarray | torch.Tensor) -> dict[str, np.ndarray]:
        """As in :class:`Detector`; re-seeding first makes ``elbo`` reproducible for the same
        images in the same order and ``eval_batch_size``."""
        self._eps.manual_seed(self.params.seed)
        return super().score_samples(images)

    def _score_batch(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        mu, logvar = self.model.encode(x)
        bce = per_image_bce(x, self.model.decode(mu))
        sampled = torch.stack([
            per_image_bce(x, self.model.decode(self.model.reparameterize(mu, logvar, self._eps)))
            for _ in range(self.params.elbo_samples)
        ])
        return {"bce": bce, "elbo": sampled.mean(dim=0) + kl_divergence(mu, logvar)}

    def _reconstruct_batch(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.decode(self.model.encode(x)[0])
