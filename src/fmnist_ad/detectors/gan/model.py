"""Generator and the two patch discriminators, in the paper's and the project report's shapes.

``unet``: Kim et al.'s U-Net generator and five-conv patch discriminator on 32x32 images.
``conv``: the project report's plain conv autoencoder on 28x28 images (the AE's layout with
widths 32/64/128). Parameter counts (checked in tests): unet G 97,025 / D 74,897 (the paper
quotes about 98K and 76K); conv G 840,577 / D 93,825.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from fmnist_ad.detectors.ae.model import ConvAutoencoder

Arch = Literal["unet", "conv"]
#: side of the square images each architecture is trained and scored on
INPUT_SIDE: dict[str, int] = {"unet": 32, "conv": 28}


def resize(x: torch.Tensor, side: int) -> torch.Tensor:
    """Bilinear resize of a batch to ``side`` x ``side`` (a no-op at that size already)."""
    if x.shape[-1] == side and x.shape[-2] == side:
        return x
    return F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False)


class ConvGenerator(ConvAutoencoder):
    """The report's GAN generator: the report's autoencoder with 32/64/128 channels
    (28 -> 14 -> 7 -> 1x1x128 and back, sigmoid out); ``encode`` gives the 128-d bottleneck
    for the latent loss."""

    def __init__(self) -> None:
        super().__init__((32, 64, 128))

    def reconstruct_and_encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Reconstruction and 128-d code from one encoder pass (scoring needs both)."""
        code = self.encode(x)
        return self.decode(code), code


class ConvDiscriminator(nn.Module):
    """Three k3 s2 convs (28 -> 14 -> 7 -> 4) and a last one to a 2x2 map of raw patch verdicts
    (no sigmoid: see :class:`PatchDiscriminator`)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(64, 128, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(128, 1, 3, stride=2, padding=1),
        )

    def forward(self, x: torch.Tensor, batches: int = 1) -> torch.Tensor:
        """Verdicts on ``x``; ``batches`` is accepted for :class:`PatchDiscriminator`'s interface
        (no batch norm here, so stacked batches need nothing special)."""
        return self.net(x)


def _down(c_in: int, c_out: int, norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1)]
    if norm:
        layers.append(nn.BatchNorm2d(c_out))
    return nn.Sequential(*layers, nn.LeakyReLU(0.2))


def _up(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1),
                         nn.BatchNorm2d(c_out), nn.ReLU())


class UNetGenerator(nn.Module):
    """U-Net on 32x32: four 4x4 stride-2 convs (1 -> 8 -> 16 -> 32 -> 64, down to 2x2) and four
    transposed convs back, each fed the matching encoder map through a skip connection.

    Widths chosen to land near the paper's ~98K parameters (97,025 here). As in pix2pix, the
    outermost encoder layer and the bottleneck have no batch norm.
    """

    def __init__(self, widths: tuple[int, int, int, int] = (8, 16, 32, 64)) -> None:
        super().__init__()
        w1, w2, w3, w4 = widths
        self.down = nn.ModuleList([_down(1, w1, False), _down(w1, w2, True),
                                   _down(w2, w3, True), _down(w3, w4, False)])
        self.up = nn.ModuleList([_up(w4, w3), _up(2 * w3, w2), _up(2 * w2, w1)])
        self.out = nn.Sequential(nn.ConvTranspose2d(2 * w1, 1, 4, stride=2, padding=1), nn.Sigmoid())

    def _encode_all(self, x: torch.Tensor) -> list[torch.Tensor]:
        maps = []
        for layer in self.down:
            x = layer(x)
            maps.append(x)
        return maps

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The 64x2x2 bottleneck, flattened (for the latent loss)."""
        return self._encode_all(x)[-1].flatten(1)

    def reconstruct_and_encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Reconstruction and flattened bottleneck from one encoder pass (scoring needs both)."""
        *skips, h = self._encode_all(x)
        code = h.flatten(1)
        for layer, skip in zip(self.up, reversed(skips)):
            h = torch.cat([layer(h), skip], dim=1)
        return self.out(h), code

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.reconstruct_and_encode(x)[0]


class PatchDiscriminator(nn.Module):
    """Three 4x4 stride-2 convs (32 -> 16 -> 8 -> 4) and two 4x4 stride-1 convs (-> 3 -> 2):
    a 2x2 map of raw patch verdicts, 74,897 parameters (paper: about 76K).

    Raw, as in Mao et al.'s least-squares GAN: the loss regresses them to 1 (real) and 0 (fake).
    Behind a sigmoid, a discriminator that wins pins its verdicts at 0, where the sigmoid's
    slope, and with it the generator's adversarial gradient, vanishes.
    """

    def __init__(self, widths: tuple[int, int, int, int] = (16, 32, 64, 32)) -> None:
        super().__init__()
        w1, w2, w3, w4 = widths
        self.net = nn.Sequential(
            _down(1, w1, False), _down(w1, w2, True), _down(w2, w3, True),
            nn.Conv2d(w3, w4, 4, stride=1, padding=1), nn.BatchNorm2d(w4), nn.LeakyReLU(0.2),
            nn.Conv2d(w4, 1, 4, stride=1, padding=1),
        )
        self.layers = [m for m in self.net.modules() if not isinstance(m, nn.Sequential)]

    def forward(self, x: torch.Tensor, batches: int = 1) -> torch.Tensor:
        """Verdicts on ``x``, which stacks ``batches`` equal batches (real images, then their
        reconstructions): one convolution call serves them all, while batch norm normalises
        each by its own statistics, exactly as separate calls would."""
        if batches == 1:
            return self.net(x)
        for layer in self.layers:
            if isinstance(layer, nn.BatchNorm2d):
                x = torch.cat([layer(part) for part in x.chunk(batches)])
            else:
                x = layer(x)
        return x


class GANModel(nn.Module):
    """Generator plus the normal and the anomaly discriminator: one state dict to checkpoint."""

    def __init__(self, arch: Arch) -> None:
        super().__init__()
        if arch not in INPUT_SIDE:
            raise ValueError(f"unknown GAN arch {arch!r}; use one of {sorted(INPUT_SIDE)}")
        self.arch = arch
        self.side = INPUT_SIDE[arch]
        if arch == "unet":
            self.generator: nn.Module = UNetGenerator()
            self.d_normal: nn.Module = PatchDiscriminator()
            self.d_anomaly: nn.Module = PatchDiscriminator()
        else:
            self.generator = ConvGenerator()
            self.d_normal = ConvDiscriminator()
            self.d_anomaly = ConvDiscriminator()

    def to_input(self, x: torch.Tensor) -> torch.Tensor:
        """28x28 images at the resolution the networks work on."""
        return resize(x, self.side)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction at the networks' resolution."""
        return self.generator(x)

    def reconstruct_with_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """For 28x28 images ``x``: the input at the networks' resolution, its reconstruction and
        the vectors ``knn_gap`` compares (:meth:`knn_features`), from one generator pass."""
        x_in = self.to_input(x)
        recon, code = self.generator.reconstruct_and_encode(x_in)
        return x_in, recon, _knn_features(code, x)

    def knn_features(self, x: torch.Tensor) -> torch.Tensor:
        """What ``knn_gap`` compares for 28x28 images ``x``: the generator's bottleneck code and
        the image itself, each scaled to unit length and joined. Unit length makes the
        Euclidean distance a cosine one, blind to how much ink a garment holds; the image beside
        the code keeps the sleeves and collars that tell shirts from T-shirts, which the 2x2
        bottleneck blurs (validation AUROC, seed 42: code 0.987, both 0.989; docs/detectors.md)."""
        return _knn_features(self.generator.encode(self.to_input(x)), x)


def _knn_features(code: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return torch.cat([F.normalize(code.flatten(1), dim=1), F.normalize(x.flatten(1), dim=1)], dim=1)
