"""VAE detector: reconstruction BCE at the posterior mean and the negative ELBO, each also with
the input's own pixel entropy removed."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import torch

from fmnist_ad.detectors.network import NetworkDetector
from fmnist_ad.detectors.vae.loss import (kl_divergence, per_image_bce, per_image_blurred_bce_excess,
                                          pixel_entropy, vae_loss)
from fmnist_ad.detectors.vae.model import ConvVAE
from fmnist_ad.params.vae import VAEParams
from fmnist_ad.prepare import Split
from fmnist_ad.tensors import batch_loader, to_tensor

if TYPE_CHECKING:
    import lightning.pytorch as L


class VAEDetector(NetworkDetector):
    """Scores: ``bce`` (reconstruction from z = mu, deterministic) and ``elbo`` (negative ELBO:
    the analytic KL plus the BCE, either at z = mu when ``elbo_samples`` is 0, a deterministic
    plug-in estimate that costs no extra decoder pass, or averaged over that many draws of z).
    ``bce_excess`` and ``elbo_excess`` are the same minus the input's summed pixel entropy
    (:func:`~fmnist_ad.detectors.vae.loss.pixel_entropy`), which otherwise ranks images by
    their amount of mid-grey ink rather than by how well they are reconstructed.
    ``blurred_bce_excess`` (main) is ``bce_excess`` after a 3x3 blur of input and
    reconstruction, which forgives edges the blurry decoder cannot place to the pixel.

    Trained on the normal training images only (the report's setting, even when the unlabeled
    split is contaminated); early stopping watches the loss on validation normals.
    """

    name = "vae"
    arch_keys = ("channels", "latent_dim", "hidden")
    params_class = VAEParams
    params: VAEParams

    def __init__(self, params: VAEParams) -> None:
        super().__init__(params)
        # CPU generator: the same eps on any device, re-seeded per scoring call
        self._eps = torch.Generator()

    def build_model(self) -> ConvVAE:
        return ConvVAE(tuple(self.params.channels), self.params.latent_dim, self.params.hidden)

    def lightning_module(self, splits: dict[str, Split]) -> L.LightningModule:
        from fmnist_ad.training import LossModule  # Lightning: only when training

        return LossModule(self.model, partial(vae_loss, beta=self.params.beta),
                          self.params.lr, self.params.weight_decay)

    def loaders(self, splits: dict[str, Split]) -> tuple[Iterable, Iterable]:
        train = splits["train"].subset(splits["train"].labels == 0)
        val = splits["val"].subset(splits["val"].labels == 0)
        return (batch_loader(to_tensor(train.images), batch_size=self.params.batch_size,
                             shuffle=True, seed=self.params.seed),
                batch_loader(to_tensor(val.images), batch_size=self.params.eval_batch_size, shuffle=False))

    def score_samples(self, images: np.ndarray | torch.Tensor) -> dict[str, np.ndarray]:
        """As in :class:`NetworkDetector`; re-seeding first makes ``elbo`` reproducible for the same
        images in the same order and ``eval_batch_size``."""
        self._eps.manual_seed(self.params.seed)
        return super().score_samples(images)

    def _score_batch(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """One decoder call for z = mu and all ``elbo_samples`` draws together."""
        mu, logvar = self.model.encode(x)
        samples = self.params.elbo_samples
        z = mu
        if samples:
            # eps from the CPU generator: the same draws on any device
            eps = torch.randn((samples, *mu.shape), generator=self._eps, dtype=mu.dtype).to(mu.device)
            z = torch.cat([mu, (mu + torch.exp(0.5 * logvar) * eps).flatten(0, 1)])
        recon = self.model.decode(z)   # the first len(x) rows: from z = mu
        bce = per_image_bce(x.repeat(1 + samples, 1, 1, 1), recon).view(1 + samples, len(x))
        reconstruction = bce[1:].mean(dim=0) if samples else bce[0]
        elbo = reconstruction + kl_divergence(mu, logvar)
        entropy = pixel_entropy(x)
        return {"bce": bce[0], "elbo": elbo, "bce_excess": bce[0] - entropy, "elbo_excess": elbo - entropy,
                "blurred_bce_excess": per_image_blurred_bce_excess(x, recon[:len(x)])}

    def _reconstruct_batch(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.decode(self.model.encode(x)[0])
