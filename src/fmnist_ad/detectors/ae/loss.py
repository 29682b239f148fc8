"""The autoencoder's training loss (mean squared reconstruction error) and its per-image errors."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fmnist_ad.detectors.ae.model import ConvAutoencoder


def per_image_mse(x: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
    return (recon - x).pow(2).flatten(1).mean(dim=1)


def per_image_blurred_mse(x: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
    """Mean squared error after a 3x3 box blur of the difference (zero padding): a decoder from a
    1x1 code cannot place edges to the pixel, and the blur forgives that misplacement while
    keeping errors that cover a region (validation AUROC 0.912 against MSE's 0.899, seed 42)."""
    return F.avg_pool2d(recon - x, 3, stride=1, padding=1).pow(2).flatten(1).mean(dim=1)


def ae_loss(model: ConvAutoencoder, x: torch.Tensor) -> dict[str, torch.Tensor]:
    return {"loss": F.mse_loss(model(x), x)}
