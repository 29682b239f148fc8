"""The report's convolutional VAE: 28x28 -> Gaussian q(z|x) -> Bernoulli p(x|z) over 28x28."""

from __future__ import annotations

import torch
from torch import nn

from fmnist_ad.tensors import sharded_randn_like


class ConvVAE(nn.Module):
    """Two conv + ReLU layers (k4 s2 p1: 28 -> 14 -> 7) feed linear heads for mu and logvar;
    the decoder maps z through two linear + ReLU layers to a (C2, 7, 7) map and mirrors the
    encoder with transposed convs, sigmoid out (pixel probabilities for the BCE likelihood).
    """

    def __init__(self, channels: tuple[int, int] = (32, 64), latent_dim: int = 16, hidden: int = 256) -> None:
        super().__init__()
        c1, c2 = channels
        self.feature_shape = (c2, 7, 7)
        flat = c2 * 7 * 7
        self.encoder = nn.Sequential(
            nn.Conv2d(1, c1, 4, stride=2, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(c1, c2, 4, stride=2, padding=1), nn.ReLU(inplace=True),
            nn.Flatten(),
        )
        self.mu = nn.Linear(flat, latent_dim)
        self.logvar = nn.Linear(flat, latent_dim)
        self.project = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, flat), nn.ReLU(inplace=True),
        )
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1), nn.ReLU(inplace=True),
            nn.ConvTranspose2d(c1, 1, 4, stride=2, padding=1), nn.Sigmoid(),
        )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(z|x), each (N, latent_dim)."""
        h = self.encoder(x)
        return self.mu(h), self.logvar(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Pixel probabilities (N, 1, 28, 28)."""
        return self.decoder(self.project(z).view(-1, *self.feature_shape))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One stochastic pass: (reconstruction, mu, logvar).

        In training mode ``x`` is a (possibly DDP-sharded) training batch, and the noise is this
        rank's share of the global batch's, so several processes repeat a one-process run.
        """
        mu, logvar = self.encode(x)
        eps = sharded_randn_like(mu) if self.training else torch.randn_like(mu)
        return self.decode(mu + torch.exp(0.5 * logvar) * eps), mu, logvar
