"""The paper's FashionMNIST augmentation on whole batches: flips, a 0-2 px crop resized back,
and 90/180/270 degree rotations, every choice drawn per image from a seeded generator."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fmnist_ad.tensors import rank_share


def augment(x: torch.Tensor, generator: torch.Generator, max_crop: int = 2) -> torch.Tensor:
    """Augmented copy of square images ``x`` (N, C, S, S); draws happen on ``generator`` (CPU)
    so a seed fixes them whatever device ``x`` is on.

    ``x`` is a training batch, which DDP shards: each rank draws for the whole global batch and
    keeps its rows, so W ranks augment their images exactly as one process would.
    """
    n, side = len(x), x.shape[-1]

    def draw(high: int) -> torch.Tensor:
        return rank_share(lambda m: torch.randint(0, high, (m,), generator=generator), n).to(x.device)

    hflip, vflip = draw(2).bool(), draw(2).bool()
    x = torch.where(hflip[:, None, None, None], x.flip(-1), x)
    x = torch.where(vflip[:, None, None, None], x.flip(-2), x)

    # crop a window of side (S - c) at a random offset, resized back to S with one affine grid
    crop = draw(max_crop + 1).float()
    offset = rank_share(lambda m: torch.rand((m, 2), generator=generator), n).to(x.device) * (crop[:, None] + 1)
    offset = offset.floor().minimum(crop[:, None])
    scale = (side - crop) / side
    centre = 2 * (offset + (side - crop[:, None]) / 2) / side - 1
    theta = torch.zeros(n, 2, 3, device=x.device)
    theta[:, 0, 0] = theta[:, 1, 1] = scale
    theta[:, :, 2] = centre
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    turns = draw(4)
    rotated = torch.stack([torch.rot90(x, k, dims=(-2, -1)) for k in range(4)])
    return rotated[turns, torch.arange(n, device=x.device)]
