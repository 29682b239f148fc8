"""Images as in-memory tensors: validation, conversion and batch loading without per-image work."""

from __future__ import annotations

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, Sampler


class ImageInputError(ValueError):
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
    """Tensors indexed a whole batch at a time through ``__getitems__`` (one gather per batch)."""

    def __init__(self, *tensors: torch.Tensor) -> None:
        if not tensors or any(len(t) != len(tensors[0]) for t in tensors):
            raise ValueError("InMemoryDataset needs tensors of equal length")
        self.tensors = tensors

    def __len__(self) -> int:
        return len(self.tensors[0])

    def __getitem__(self, i: int) -> tuple[torch.Tensor, ...]:
        return tuple(t[i] for t in self.tensors)

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, ...]:
        ix = torch.as_tensor(indices, dtype=torch.long)
        return tuple(t.index_select(0, ix) for t in self.tensors)


def passthrough(batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    return batch


def rank_and_world() -> tuple[int, int]:
    """This process's rank and the number of processes (0, 1 outside torch.distributed)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class EpochSampler(Sampler[int]):
    """Indices in an order that depends only on ``seed`` and the epoch, optionally sharded.

    Seeding per epoch (Lightning calls ``set_epoch``) makes a resumed run see the same batches
    as an uninterrupted one. With ``shard`` each DDP rank takes every world-th index of the
    same order, padded so that all ranks run the same number of steps.
    """

    def __init__(self, n: int, shuffle: bool, seed: int, shard: bool) -> None:
        self.n, self.shuffle, self.seed, self.shard = n, shuffle, seed, shard
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _world(self) -> tuple[int, int]:
        return rank_and_world() if self.shard else (0, 1)

    def __len__(self) -> int:
        return -(-self.n // self._world()[1])

    def __iter__(self):
        order = (torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed + self.epoch))
                 if self.shuffle else torch.arange(self.n))
        rank, world = self._world()
        if world > 1:
            order = torch.cat([order, order[: len(self) * world - self.n]])[rank::world]
        return iter(order.tolist())


def batch_loader(*tensors: torch.Tensor, batch_size: int, shuffle: bool, seed: int = 0) -> DataLoader:
    """A DataLoader over in-memory tensors, one gather per batch.

    Training loaders (``shuffle=True``) are sharded across DDP ranks; evaluation loaders are not,
    so every rank sees the whole validation set and metrics need no gathering.
    """
    sampler = EpochSampler(len(tensors[0]), shuffle=shuffle, seed=seed, shard=shuffle)
    return DataLoader(InMemoryDataset(*tensors), batch_size=batch_size, sampler=sampler,
                      collate_fn=passthrough)
