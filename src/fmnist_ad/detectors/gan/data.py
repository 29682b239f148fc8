"""Training batches for the GAN: each batch all normals or all labeled anomalies, both groups
shuffled together, sharded across DDP ranks."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Sampler

from fmnist_ad.tensors import InMemoryDataset, shard_order


class GroupBatchSampler(Sampler[list[int]]):
    """Index lists over ``[normals; anomalies]``, each batch from one group, batches of both
    groups shuffled together; the order depends only on ``seed`` and the epoch.

    Under DDP every rank draws the same global batches and takes its share of each (as
    :class:`~fmnist_ad.tensors.EpochBatchSampler` does), so all ranks train the same
    discriminator at each step and together see a single-process run's batches.

    It is the DataLoader's *sampler* (with ``batch_size=None``) rather than its batch sampler
    because Lightning calls ``set_epoch`` on ``dataloader.sampler`` at every epoch.
    """

    def __init__(self, n_normal: int, n_anomaly: int, batch_size: int, seed: int) -> None:
        self.n_normal, self.n_anomaly = n_normal, n_anomaly
        self.batch_size, self.seed = batch_size, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return -(-self.n_normal // self.batch_size) + -(-self.n_anomaly // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        normal, rank, world = shard_order(torch.randperm(self.n_normal, generator=g), self.batch_size)
        anomaly, _, _ = shard_order(torch.randperm(self.n_anomaly, generator=g) + self.n_normal, self.batch_size)
        batches = [*normal.split(self.batch_size), *anomaly.split(self.batch_size)]
        for i in torch.randperm(len(batches), generator=g).tolist():
            yield batches[i][rank::world].tolist()


def with_group_flag(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, bool]:
    """``(images, is_anomaly)`` with the batch's group as a Python bool, read here on the CPU:
    Lightning moves tensors to the GPU, where reading a flag would make the CPU wait every step."""
    images, flags = batch
    return images, bool(flags[0])


def interleaved_loader(normals: torch.Tensor, anomalies: torch.Tensor, batch_size: int,
                       seed: int) -> DataLoader:
    """Batches ``(images, is_anomaly)`` from one group at a time, one gather per batch."""
    images = torch.cat([normals, anomalies])
    flags = torch.cat([torch.zeros(len(normals), dtype=torch.bool),
                       torch.ones(len(anomalies), dtype=torch.bool)])
    sampler = GroupBatchSampler(len(normals), len(anomalies), batch_size, seed)
    return DataLoader(InMemoryDataset(images, flags), sampler=sampler, batch_size=None,
                      collate_fn=with_group_flag)
