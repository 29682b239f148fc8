"""Detector 3 (Kim et al.'s dual-discriminator GAN): losses, shapes, one training step, fit."""

from __future__ import annotations

import math

import lightning.pytorch as L
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

from fmnist_ad.detectors.base import CheckpointError
from fmnist_ad.detectors.gan.detector import GANDetector
from fmnist_ad.detectors.gan.augment import augment
from fmnist_ad.detectors.gan.data import PairedBatchSampler, paired_loader
from fmnist_ad.detectors.gan.loss import (abc_loss, latent_loss, lsgan_d_loss, lsgan_g_loss,
                                          patch_loss, per_image_l1)
from fmnist_ad.detectors.gan.model import GANModel
from fmnist_ad.detectors.gan.module import GANModule
from fmnist_ad.params.gan import GANParams
from fmnist_ad.prepare import Split
from fmnist_ad.training import fit


def _split(n: int, anomaly_share: float, seed: int) -> Split:
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) < round(n * anomaly_share)).astype(np.uint8)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    return Split(images, labels.astype(np.int64), labels, np.arange(n))


def _splits() -> dict[str, Split]:
    return {"train": _split(32, 0.0, 0), "labeled": _split(16, 1.0, 1),
            "val": _split(24, 0.5, 2), "test": _split(20, 0.5, 3)}


# --- losses -------------------------------------------------------------------------------
def test_lsgan_losses_known_values() -> None:
    ones, zeros = torch.ones(4, 1, 2, 2), torch.zeros(4, 1, 2, 2)
    assert lsgan_d_loss(ones, zeros).item() == 0.0
    assert lsgan_d_loss(zeros, ones).item() == pytest.approx(1.0)    # 0.5 * (1 + 1)
    assert lsgan_g_loss(ones, 1.0).item() == 0.0
    assert lsgan_g_loss(torch.full((2, 1, 2, 2), 0.5), 0.0).item() == pytest.approx(0.25)


def test_l1_and_latent_known_values() -> None:
    x = torch.zeros(2, 1, 4, 4)
    recon = torch.stack([torch.full((1, 4, 4), 0.25), torch.zeros(1, 4, 4)])
    assert per_image_l1(x, recon).tolist() == [0.25, 0.0]
    assert latent_loss(torch.zeros(2, 3), torch.tensor([[1.0, -2.0, 0.0], [0.0, 0.0, 3.0]])).item() == 1.0


def test_abc_loss_finite_at_zero_and_decreasing() -> None:
    l1 = torch.tensor([0.0, 1e-9, 1e-3, 0.1, 0.5, 1.0])
    per_image = torch.stack([abc_loss(v[None]) for v in l1])
    assert torch.isfinite(per_image).all()
    assert (per_image.diff()[1:] < 0).all()
    assert per_image[-1].item() == pytest.approx(-math.log(1 - math.exp(-1.0)))
    l1 = torch.zeros(3, requires_grad=True)
    abc_loss(l1).backward()
    assert torch.isfinite(l1.grad).all()


def test_patch_loss_takes_top_n_patches() -> None:
    # 4x4 error image, 2x2 patches with stride 2: patch means 0.1, 0.2, 0.3, 0.4
    x = torch.zeros(1, 1, 4, 4)
    recon = torch.tensor([[0.1, 0.1, 0.2, 0.2], [0.1, 0.1, 0.2, 0.2],
                          [0.3, 0.3, 0.4, 0.4], [0.3, 0.3, 0.4, 0.4]])[None, None]
    assert patch_loss(x, recon, 2, 2, 2).item() == pytest.approx(0.35)
    assert patch_loss(x, recon, 2, 2, 10).item() == pytest.approx(0.25)   # top_n capped at 4
    # per image, then averaged: a second, perfect image halves the mean
    both = patch_loss(torch.zeros(2, 1, 4, 4), torch.cat([recon, torch.zeros_like(recon)]), 2, 2, 1)
    assert both.item() == pytest.approx(0.2)


# --- architectures ------------------------------------------------------------------------
@pytest.mark.parametrize("arch, side", [("conv", 28), ("unet", 32)])
def test_shapes(arch: str, side: int) -> None:
    model = GANModel(arch)
    x = model.to_input(torch.rand(3, 1, 28, 28))
    assert x.shape == (3, 1, side, side)
    recon = model(x)
    assert recon.shape == x.shape and 0 <= recon.min() and recon.max() <= 1
    for disc in (model.d_normal, model.d_anomaly):
        verdict = disc(x)
        assert verdict.shape[:2] == (3, 1) and verdict.shape[-1] > 1
    assert model.generator.encode(x).ndim == 2


@pytest.mark.parametrize(("arch", "generator", "discriminator"), [("unet", 97_025, 74_897), ("conv", 840_577, 93_825)])
def test_parameter_counts(arch: str, generator: int, discriminator: int) -> None:
    """The counts the model docstring states; the paper's within 15% of its ~98K and ~76K."""
    model = GANModel(arch)
    count = lambda net: sum(p.numel() for p in net.parameters())  # noqa: E731
    assert (count(model.generator), count(model.d_normal), count(model.d_anomaly)) == (generator, discriminator, discriminator)
    if arch == "unet":
        assert generator == pytest.approx(98_000, rel=0.15) and discriminator == pytest.approx(76_000, rel=0.15)


def test_augment_keeps_shape_range_and_is_seeded() -> None:
    x = torch.rand(8, 1, 32, 32)
    a = augment(x, torch.Generator().manual_seed(0))
    assert a.shape == x.shape and 0 <= a.min() and a.max() <= 1
    assert torch.equal(a, augment(x, torch.Generator().manual_seed(0)))
    assert not torch.equal(a, augment(x, torch.Generator().manual_seed(1)))


# --- training -----------------------------------------------------------------------------
def test_paired_batches_hold_both_groups_and_reshuffle_per_epoch() -> None:
    """Every batch: normals first, then as many anomalies; an epoch covers each normal once and
    cycles the fewer anomalies."""
    sampler = PairedBatchSampler(10, 7, batch_size=4, seed=3)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 3
    for b, size in zip(batches, (4, 4, 2)):
        assert len(b) == 2 * size and max(b[:size]) < 10 and min(b[size:]) >= 10
    assert sorted(i for b in batches for i in b[:len(b) // 2]) == list(range(10))
    assert set(i for b in batches for i in b[len(b) // 2:]) == set(range(10, 17))
    assert batches == list(PairedBatchSampler(10, 7, batch_size=4, seed=3))
    sampler.set_epoch(1)
    assert list(sampler) != batches
    for x, n_normal in paired_loader(torch.zeros(10, 1, 28, 28), torch.ones(7, 1, 28, 28), 4, 3):
        assert not x[:n_normal].any() and x[n_normal:].all() and len(x) == 2 * n_normal


def test_training_steps_update_all_three_networks() -> None:
    """One batch of normals and anomalies moves G, D_n and D_a."""
    params = GANParams(epochs=1, batch_size=8, arch="conv", lr=1e-3, lr_step=1, augment=True)
    model = GANModel(params.arch)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    loader = paired_loader(torch.rand(8, 1, 28, 28), torch.rand(8, 1, 28, 28), 8, 0)
    trainer = L.Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0)
    module = GANModule(model, params, references=(torch.rand(8, 1, 28, 28), torch.rand(8, 1, 28, 28)))
    trainer.fit(module, loader)
    assert [opt.param_groups[0]["lr"] for opt in module.optimizers()] == [5e-4] * 3  # StepLR halved
    for net in ("generator", "d_normal", "d_anomaly"):
        changed = [not torch.equal(v, before[k]) for k, v in model.state_dict().items() if k.startswith(net)]
        assert any(changed), f"{net} did not change"
    logged = set(trainer.logged_metrics)
    assert {f"train/{t}" for t in ("rec", "patch", "latent", "adv", "anomaly_adv", "abc",
                                  "d_normal", "d_anomaly")} <= logged


def test_loaders_need_labeled_anomalies() -> None:
    splits = _splits()
    splits["labeled"] = splits["labeled"].subset(np.zeros(16, dtype=bool))
    with pytest.raises(ValueError, match="labeled_anomalies"):
        GANDetector(GANParams(arch="conv")).loaders(splits)


def test_loaders_need_both_classes_in_validation() -> None:
    """The checkpoint is chosen by validation AUROC, undefined on one class."""
    splits = _splits()
    splits["val"] = splits["val"].subset(splits["val"].labels == 0)
    with pytest.raises(ValueError, match="validation holds one class"):
        GANDetector(GANParams(arch="conv")).loaders(splits)


@pytest.mark.parametrize("arch", ["conv", "unet"])
def test_fit_scores_reconstruct_and_roundtrip(arch: str, tmp_path) -> None:
    params = GANParams(epochs=1, batch_size=16, arch=arch, accelerator="cpu")
    detector = GANDetector(params)
    splits = _splits()
    summary = fit(detector, splits, tmp_path / "work", progress_bar=False)
    assert summary["train_images"] == 48 and "best_val_auroc" in summary
    test = splits["test"].images
    scores = detector.score_samples(test)
    assert set(scores) == {"l1", "mse", "knn_gap", "knn_gap_pixels"} and all(len(v) == len(test) for v in scores.values())
    assert detector.reconstruct(test).shape == (len(test), 1, 28, 28)
    # knn_gap's vectors: code and image, each of unit length
    labeled = splits["labeled"].images
    vectors = detector.knn_features(labeled)
    code_size = vectors.shape[1] - 28 * 28
    np.testing.assert_allclose(vectors[:, :code_size].norm(dim=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(vectors[:, code_size:].norm(dim=1), 1.0, rtol=1e-5)
    # a labeled anomaly's vector is its own nearest anomaly vector, so it leans to the anomalies
    gap = detector.score_samples(labeled)["knn_gap"]
    expected = (torch.cdist(vectors, detector.knn_features(splits["train"].images)).topk(5, largest=False).values.mean(1)
                - torch.cdist(vectors, vectors).topk(5, largest=False).values.mean(1))
    np.testing.assert_allclose(gap, expected.numpy(), rtol=1e-4, atol=1e-5)
    # the control compares the images alone, at unit length, without the network
    pixels = {name: F.normalize(torch.as_tensor(splits[name].images, dtype=torch.float32).flatten(1), dim=1)
              for name in ("train", "labeled")}
    control = (torch.cdist(pixels["labeled"], pixels["train"]).topk(5, largest=False).values.mean(1)
               - torch.cdist(pixels["labeled"], pixels["labeled"]).topk(5, largest=False).values.mean(1))
    np.testing.assert_allclose(detector.score_samples(labeled)["knn_gap_pixels"], control.numpy(), rtol=1e-4, atol=1e-5)

    detector.save(tmp_path / "gan.pt")
    loaded = GANDetector.load(tmp_path / "gan.pt", params)
    reloaded = loaded.score_samples(test)
    for name in scores:
        np.testing.assert_allclose(reloaded[name], scores[name], rtol=1e-5, atol=1e-6)
    other = "unet" if arch == "conv" else "conv"
    with pytest.raises(CheckpointError):
        GANDetector.load(tmp_path / "gan.pt", GANParams(arch=other))
    # a checkpoint from before knn_gap compared code and image asks for retraining
    state = torch.load(tmp_path / "gan.pt", weights_only=True)
    state["extra"] = {"codes_normal": state["extra"]["features_normal"], "codes_anomaly": state["extra"]["features_anomaly"]}
    torch.save(state, tmp_path / "old.pt")
    with pytest.raises(CheckpointError, match="retrain"):
        GANDetector.load(tmp_path / "old.pt", params)


@pytest.mark.parametrize("main_score", ["knn_gap", "l1", "mse", "knn_gap_pixels"])
def test_checkpoint_monitor_is_the_main_score(main_score: str, tmp_path) -> None:
    """val/auroc, which picks the checkpoint, is the main score's validation AUROC; val/auroc_l1
    the paper's score beside it."""
    params = GANParams(epochs=2, batch_size=16, accelerator="cpu", main_score=main_score)
    detector = GANDetector(params)
    splits = _splits()
    summary = fit(detector, splits, tmp_path / "work", progress_bar=False)
    curves = tmp_path / "work" / "dvclive" / "plots" / "metrics" / "val"
    main, l1 = (np.loadtxt(curves / f"{name}.tsv", skiprows=1, usecols=-1, ndmin=1) for name in ("auroc", "auroc_l1"))
    assert len(main) == len(l1) == 2
    # the checkpoint kept is the best main-score epoch, and scores validation as the module did
    best = int(np.argmax(main))
    assert summary["best_epoch"] == best and summary["best_val_auroc"] == pytest.approx(main[best], abs=1e-6)
    val = splits["val"]
    scores = detector.score_samples(val.images)
    assert main[best] == pytest.approx(roc_auc_score(val.labels, scores[main_score]), abs=1e-6)
    assert l1[best] == pytest.approx(roc_auc_score(val.labels, scores["l1"]), abs=1e-6)
    # resuming starts from the last epoch, whichever epoch was best
    assert torch.load(tmp_path / "work" / "checkpoints" / "last.ckpt", weights_only=False)["epoch"] == 1
