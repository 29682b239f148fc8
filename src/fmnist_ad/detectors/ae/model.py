"""The report's convolutional autoencoder: 28x28 -> 1x1xC code -> 28x28."""

from __future__ import annotations

import torch
from torch import nn

from fmnist_ad.detectors.layers import PointConvTranspose2d


class ConvAutoencoder(nn.Module):
    """Three conv + ReLU layers down to a 1x1 code, mirrored with transposed convs, sigmoid out.

    With channels (16, 32, 64): 28 -> 14 -> 7 (k3 s2 p1) -> 1 (k7), and back. The decoder's
    first layer runs as one matrix product (:mod:`fmnist_ad.detectors.layers`): same
    parameters, same results to float rounding.
    """

    def __init__(self, channels: tuple[int, int, int] = (16, 32, 64)) -> None:
        super().__init__()
        c1, c2, c3 = channels
        self.encoder = nn.Sequential(
            nn.Conv2d(1, c1, 3, stride=2, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(c1, c2, 3, stride=2, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(c2, c3, 7), nn.ReLU(inplace=True),
        )
        self.decoder = nn.Sequential(
            PointConvTranspose2d(c3, c2, 7), nn.ReLU(inplace=True),
            nn.ConvTranspose2d(c2, c1, 3, stride=2, padding=1, output_padding=1), nn.ReLU(inplace=True),
            nn.ConvTranspose2d(c1, 1, 3, stride=2, padding=1, output_padding=1), nn.Sigmoid(),
        )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Codes as (N, C) vectors."""
        return self.encoder(x).flatten(1)

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        return self.decoder(code[:, :, None, None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))
