"""Training batches for the GAN: each batch ``batch_size`` normals followed by ``batch_size``
labeled anomalies, each group in its own seeded order, sharded across DDP ranks.

Mixed batches matter for the networks' batch norm: with batches of one group only, training
normalised normals by normal statistics and anomalies by anomaly statistics, while scoring uses
running statistics of both, so the scores drifted from what training optimised and validation
AUROC swung by several points from epoch to epoch.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Sampler

from fmnist_ad.tensors import InMemoryDataset, shard_order


class PairedBatchSampler(Sampler[list[int]]):
    """Index lists over ``[normals; anomalies]``: each batch ``batch_size`` normals then
    ``batch_size`` anomalies. An epoch is one pass over the normals; the anomalies follow a
    permutation of their own, repeated (and re-drawn) when they are fewer. The order depends only
    on ``seed`` and the epoch.

    Under DDP every rank draws the same global batches and takes its share of each group (as
    :class:`~fmnist_ad.tensors.EpochBatchSampler` does), so the ranks together see a
    single-process run's batches.

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
        return -(-self.n_normal // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        normal, rank, world = shard_order(torch.randperm(self.n_normal, generator=g), self.batch_size)
        repeats = -(-len(normal) // self.n_anomaly)
        anomaly = torch.cat([torch.randperm(self.n_anomaly, generator=g) for _ in range(repeats)])
        anomaly = anomaly[:len(normal)] + self.n_normal
        for n_batch, a_batch in zip(normal.split(self.batch_size), anomaly.split(self.batch_size)):
            yield n_batch[rank::world].tolist() + a_batch[rank::world].tolist()


def with_normal_count(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, int]:
    """``(images, n_normal)``: the batch's first ``n_normal`` images are normal, the rest labeled
    anomalies. Counted here on the CPU: Lightning moves tensors to the GPU, where reading the
    count would make the CPU wait every step."""
    images, flags = batch
    return images, int((~flags).sum())


def paired_loader(normals: torch.Tensor, anomalies: torch.Tensor, batch_size: int,
                  seed: int) -> DataLoader:
    """Batches ``(images, n_normal)`` of normals then anomalies, one gather per batch."""
    if not len(normals) or not len(anomalies):
        raise ValueError("paired_loader needs normals and labeled anomalies")
    images = torch.cat([normals, anomalies])
    flags = torch.cat([torch.zeros(len(normals), dtype=torch.bool),
                       torch.ones(len(anomalies), dtype=torch.bool)])
    sampler = PairedBatchSampler(len(normals), len(anomalies), batch_size, seed)
    return DataLoader(InMemoryDataset(images, flags), sampler=sampler, batch_size=None,
                      collate_fn=with_normal_count)
