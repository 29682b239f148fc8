"""DDP without processes: with the rank faked, W ranks' shares of the batches, noise and
augmentation draws put back together equal what a single process gets; and only global rank
zero clears the shared work dir."""

from __future__ import annotations

import pytest
import torch

from fmnist_ad.allocator import keep_freed_memory
from fmnist_ad.detectors.gan import augment as augment_module
from fmnist_ad.detectors.gan.data import PairedBatchSampler
from fmnist_ad.tensors import EpochBatchSampler, sharded_randn_like

WORLD = 2


def _as_rank(monkeypatch: pytest.MonkeyPatch, rank: int) -> None:
    monkeypatch.setattr("fmnist_ad.tensors.rank_and_world", lambda: (rank, WORLD))


def _per_rank(monkeypatch: pytest.MonkeyPatch, make) -> list:
    out = []
    for rank in range(WORLD):
        _as_rank(monkeypatch, rank)
        out.append(make(rank))
    monkeypatch.undo()
    return out


def _merged(single: list[list[int]], shares: list[list[list[int]]]) -> None:
    """Each global batch = the ranks' equal shares interleaved (the last padded by repeats)."""
    assert all(len(s) == len(single) for s in shares)
    for i, batch in enumerate(single):
        parts = [s[i] for s in shares]
        assert len({len(p) for p in parts}) == 1, parts
        merged = [x for group in zip(*parts) for x in group]
        assert merged[: len(batch)] == batch
        assert set(merged[len(batch):]) <= set(sum(single, []))  # padding repeats real images


def test_epoch_sampler_shards_the_single_process_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    def sampler(rank: int = 0) -> list[list[int]]:
        s = EpochBatchSampler(23, batch_size=8, shuffle=True, seed=5, shard=True)
        s.set_epoch(3)
        return list(s)

    _merged(sampler(), _per_rank(monkeypatch, sampler))


def test_paired_sampler_shards_each_group_of_the_single_process_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    def sampler(rank: int = 0) -> list[list[int]]:
        s = PairedBatchSampler(11, 7, batch_size=4, seed=3)
        s.set_epoch(1)
        return list(s)

    def halves(batches: list[list[int]]) -> list[tuple[list[int], list[int]]]:
        return [(b[:len(b) // 2], b[len(b) // 2:]) for b in batches]

    single = halves(sampler())
    shares = [halves(s) for s in _per_rank(monkeypatch, sampler)]
    for group in (0, 1):  # normals (< 11), then anomalies: each sharded like one global batch
        _merged([b[group] for b in single], [[b[group] for b in s] for s in shares])
    for share in shares:
        assert all(max(n) < 11 <= min(a) and len(n) == len(a) for n, a in share)


def test_odd_batch_size_is_refused_under_ddp(monkeypatch: pytest.MonkeyPatch) -> None:
    _as_rank(monkeypatch, 0)
    with pytest.raises(ValueError, match="not divisible by the 2 DDP processes"):
        list(EpochBatchSampler(10, batch_size=5, shuffle=True, seed=0, shard=True))


def test_noise_and_augmentation_shares_match_one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    x = torch.rand(6, 1, 32, 32)
    torch.manual_seed(11)
    noise = sharded_randn_like(torch.zeros(6, 4))
    augmented = augment_module.augment(x, torch.Generator().manual_seed(7))

    def share(rank: int) -> tuple[torch.Tensor, torch.Tensor]:
        torch.manual_seed(11)
        return (sharded_randn_like(torch.zeros(3, 4)),
                augment_module.augment(x[rank::WORLD], torch.Generator().manual_seed(7)))

    for rank, (n, a) in enumerate(_per_rank(monkeypatch, share)):
        assert torch.equal(n, noise[rank::WORLD])
        assert torch.allclose(a, augmented[rank::WORLD], atol=1e-6)


def test_allocator_thresholds_are_accepted_by_glibc() -> None:
    import platform

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("glibc only")
    assert keep_freed_memory()


@pytest.mark.parametrize("env, zero", [
    ({}, True),
    ({"RANK": "0", "LOCAL_RANK": "0"}, True),
    ({"RANK": "2", "LOCAL_RANK": "0"}, False),          # torchrun, second node
    ({"SLURM_PROCID": "3", "SLURM_LOCALID": "0"}, False),  # srun, second node
    ({"LOCAL_RANK": "1", "NODE_RANK": "0"}, False),      # Lightning's launcher, second process
    ({"LOCAL_RANK": "0", "NODE_RANK": "1"}, False),
])
def test_only_global_rank_zero_clears_the_work_dir(monkeypatch: pytest.MonkeyPatch, env: dict[str, str],
                                                   zero: bool) -> None:
    """On several nodes sharing a filesystem, local rank 0 of another node must not delete it."""
    from fmnist_ad.training import _is_global_zero_env

    for variable in ("RANK", "SLURM_PROCID", "LOCAL_RANK", "NODE_RANK"):
        monkeypatch.delenv(variable, raising=False)
    for variable, value in env.items():
        monkeypatch.setenv(variable, value)
    assert _is_global_zero_env() is zero
