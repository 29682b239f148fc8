"""The autoencoder's training loss: mean squared reconstruction error."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fmnist_ad.detectors.ae.model import ConvAutoencoder


def per_image_mse(x: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
    return (recon - x).pow(2).flatten(1).mean(dim=1)


def ae_loss(model: ConvAutoencoder, x: torch.Tensor) -> dict[str, torch.Tensor]:
    return {"loss": F.mse_loss(model(x), x)}
