"""Images as in-memory tensors: validation, conversion and batch loading without per-image work."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, Sampler

from fmnist_ad.errors import UserError


class ImageInputError(UserError, ValueError):
    """Images handed to a detector have the wrong shape, dtype or value range."""


def to_tensor(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Return float32 images (N, 1, 28, 28) in [0, 1].

    Accepts uint8 arrays (N, 28, 28) or (N, 1, 28, 28) as stored by `prepare`, or floats
    already in [0, 1]. Anything else is refused with a message saying what was expected.
    """
    x = torch.as_tensor(images)
    if x.ndim == 3:
        x = x.unsqueeze(1)
    if x.ndim != 4 or x.shape[1] != 1 or tuple(x.shape[2:]) != (28, 28):
        raise ImageInputError(
            f"expected images of shape (N, 28, 28) or (N, 1, 28, 28), got {tuple(torch.as_tensor(images).shape)}"
        )
    if x.dtype == torch.uint8:
        return x.float().div_(255.0)
    if not torch.is_floating_point(x):
        raise ImageInputError(f"expected uint8 or float images, got dtype {x.dtype}")
    x = x.float()
    if x.numel() and (not torch.isfinite(x).all() or x.min() < 0 or x.max() > 1):
        raise ImageInputError(
            f"float images must be finite and in [0, 1], got range [{x.min().item():.3g}, "
            f"{x.max().item():.3g}]; divide uint8 pixels by 255"
        )
    return x


class InMemoryDataset(Dataset):
    """Tensors indexed a whole batch at a time (a list of indices -> one gather per batch)."""

    def __init__(self, *tensors: torch.Tensor) -> None:
        if not tensors or any(len(t) != len(tensors[0]) for t in tensors):
            raise ValueError("InMemoryDataset needs tensors of equal length")
        self.tensors = tensors

    def __len__(self) -> int:
        return len(self.tensors[0])

    def __getitem__(self, indices: int | list[int]) -> tuple[torch.Tensor, ...]:
        """One item, or a whole batch when given a list of indices (one gather per tensor)."""
        if isinstance(indices, int):
            return tuple(t[indices] for t in self.tensors)
        ix = torch.as_tensor(indices, dtype=torch.long)
        return tuple(t.index_select(0, ix) for t in self.tensors)


def passthrough(batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    return batch


def rank_and_world() -> tuple[int, int]:
    """This process's rank and the number of processes (0, 1 outside torch.distributed)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def shard_order(order: torch.Tensor, batch_size: int) -> tuple[torch.Tensor, int, int]:
    """``order`` padded for this DDP rank, with (rank, world); ``batch[rank::world]`` of each
    ``batch_size`` split is then this rank's equal share of the global batch.

    The first ``-len(order) % world`` indices are repeated so every rank gets as many images;
    outside torch.distributed this returns ``order`` unchanged and (0, 1).
    """
    rank, world = rank_and_world()
    if world == 1:
        return order, rank, world
    if batch_size % world:
        raise ValueError(f"batch_size {batch_size} is not divisible by the {world} DDP processes; "
                         "choose a multiple so every rank gets equal shares")
    pad = torch.arange(-len(order) % world) % max(len(order), 1)
    return torch.cat([order, order[pad]]), rank, world


def rank_share(draw: Callable[[int], torch.Tensor], n: int) -> torch.Tensor:
    """This rank's rows of the random draws for a sharded training batch of ``n`` images per rank:
    ``draw(m)`` makes m rows; every rank draws for the global batch from the same seed (see
    ``StepSeed``) and keeps rows ``rank::world``, the images :func:`shard_order` gave it, so DDP
    repeats a one-process run's draws."""
    rank, world = rank_and_world()
    return draw(n * world)[rank::world] if world > 1 else draw(n)


def sharded_randn_like(x: torch.Tensor) -> torch.Tensor:
    """Standard normal noise like ``x``, which holds this rank's share of a training batch."""
    return rank_share(lambda m: torch.randn((m, *x.shape[1:]), dtype=x.dtype, device=x.device), len(x))


class EpochBatchSampler(Sampler[list[int]]):
    """Index lists, one per batch, in an order that depends only on ``seed`` and the epoch.

    Seeding per epoch (Lightning calls ``set_epoch`` on a loader's sampler) makes a resumed run
    see the same batches as an uninterrupted one. With ``shard``, each of W DDP ranks takes every
    W-th image of the same global batch, so the W ranks together step on exactly the batches of a
    single-process run and average the same gradient: results match it up to float rounding.
    """

    def __init__(self, n: int, batch_size: int, shuffle: bool, seed: int, shard: bool) -> None:
        self.n, self.batch_size, self.shuffle, self.seed, self.shard = n, batch_size, shuffle, seed, shard
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        order = (torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed + self.epoch))
                 if self.shuffle else torch.arange(self.n))
        rank, world = 0, 1
        if self.shard:
            order, rank, world = shard_order(order, self.batch_size)
        for batch in order.split(self.batch_size):
            yield batch[rank::world].tolist()


def batch_loader(*tensors: torch.Tensor, batch_size: int, shuffle: bool, seed: int = 0) -> DataLoader:
    """A DataLoader over in-memory tensors, one gather per batch.

    Training loaders (``shuffle=True``) are sharded across DDP ranks; evaluation loaders are not,
    so every rank sees the whole validation set and metrics need no gathering.
    """
    sampler = EpochBatchSampler(len(tensors[0]), batch_size, shuffle=shuffle, seed=seed, shard=shuffle)
    return DataLoader(InMemoryDataset(*tensors), sampler=sampler, batch_size=None, collate_fn=passthrough)
