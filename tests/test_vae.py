"""The VAE detector on small synthetic images: its loss, its scores, its checkpoints."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from fmnist_ad.detectors.vae.detector import VAEDetector
from fmnist_ad.detectors.vae.loss import (kl_divergence, per_image_bce, per_image_blurred_bce_excess, pixel_entropy,
                                          vae_loss)
from fmnist_ad.detectors.vae.model import ConvVAE
from fmnist_ad.params.vae import VAEParams
from fmnist_ad.prepare import Split
from fmnist_ad.tensors import to_tensor
from fmnist_ad.training import fit

SMALL = dict(channels=[8, 16], latent_dim=4, hidden=32)


def blocks(n: int, seed: int) -> np.ndarray:
    """uint8 images (n, 28, 28) of one bright rectangle each: structure a small VAE can learn."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 28, 28), dtype=np.uint8)
    for img in images:
        top, left = rng.integers(2, 14, size=2)
        h, w = rng.integers(6, 13, size=2)
        img[top:top + h, left:left + w] = rng.integers(150, 256)
    return images


def split(images: np.ndarray, labels: np.ndarray) -> Split:
    return Split(images, labels.astype(np.int64), labels.astype(np.uint8),
                 np.arange(len(images), dtype=np.int64))


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """These models are tiny: one thread avoids OpenMP contention on small, busy CI machines."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return blocks(96, seed=0)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[VAEDetector, dict, dict[str, Split], Path]:
    """A detector trained for two epochs through the generic ``fit``."""
    rng = np.random.default_rng(1)
    noise = rng.integers(0, 256, size=(32, 28, 28), dtype=np.uint8)
    normal = blocks(128, seed=2)
    splits = {
        # anomalies in train must be ignored: the VAE trains on normals only
        "train": split(np.concatenate([normal, noise[:16]]), np.r_[np.zeros(128), np.ones(16)]),
        "labeled": split(noise[:0], np.zeros(0)),
        "val": split(np.concatenate([blocks(32, seed=3), noise[16:]]), np.r_[np.zeros(32), np.ones(16)]),
        "test": split(blocks(8, seed=4), np.zeros(8)),
    }
    detector = VAEDetector(VAEParams(epochs=2, batch_size=32, lr=1e-3, accelerator="cpu", **SMALL))
    tmp = tmp_path_factory.mktemp("vae")
    summary = fit(detector, splits, tmp / "work", progress_bar=False)
    return detector, summary, splits, tmp / "work" / "dvclive"


def test_elbo_decreases(images: np.ndarray) -> None:
    torch.manual_seed(0)
    model = ConvVAE((8, 16), latent_dim=4, hidden=32)
    x = to_tensor(images)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)

    def elbo() -> float:
        torch.manual_seed(1)
        with torch.no_grad():
            return float(vae_loss(model, x, beta=1.0)["elbo"])

    before = elbo()
    for _ in range(150):
        optimiser.zero_grad()
        vae_loss(model, x, beta=1.0)["loss"].backward()
        optimiser.step()
    after = elbo()
    assert after < 0.5 * before, (before, after)


def test_kl_non_negative_and_zero_at_prior() -> None:
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(64, 8, generator=g) * 3, torch.randn(64, 8, generator=g) * 3
    assert (kl_divergence(mu, logvar) >= 0).all()
    assert torch.equal(kl_divergence(torch.zeros(5, 8), torch.zeros(5, 8)), torch.zeros(5))


def test_blurred_bce_excess_known_values() -> None:
    """Zero for a perfect reconstruction; for a flat image x against a flat prediction p it is
    784 * KL(Ber(x) || Ber(p)) (the blur leaves flat images unchanged); an edge misplaced by one
    pixel costs less after the blur than before."""
    x = torch.full((1, 1, 28, 28), 0.3)
    assert per_image_blurred_bce_excess(x, x).abs().item() < 1e-3
    p = torch.full((1, 1, 28, 28), 0.6)
    kl = 0.3 * math.log(0.3 / 0.6) + 0.7 * math.log(0.7 / 0.4)
    assert per_image_blurred_bce_excess(x, p).item() == pytest.approx(784 * kl, rel=1e-4)
    edge, shifted = torch.zeros(1, 1, 28, 28), torch.zeros(1, 1, 28, 28)
    edge[..., 10:18, 10:13], shifted[..., 10:18, 11:14] = 0.9, 0.9
    sharp = (per_image_bce(edge, shifted.clamp(0.01, 0.99)) - pixel_entropy(edge)).item()
    assert per_image_blurred_bce_excess(edge, shifted.clamp(0.01, 0.99)).item() < 0.5 * sharp


def test_bce_is_finite_for_saturated_outputs() -> None:
    x = torch.tensor([[0.0, 1.0]]).view(1, 1, 1, 2)
    assert torch.isfinite(per_image_bce(x, torch.tensor([[1.0, 0.0]]).view(1, 1, 1, 2))).all()


def test_shapes(images: np.ndarray) -> None:
    model = ConvVAE((8, 16), latent_dim=4, hidden=32)
    x = to_tensor(images[:5])
    recon, mu, logvar = model(x)
    assert recon.shape == (5, 1, 28, 28) and mu.shape == logvar.shape == (5, 4)
    assert model.decode(mu).shape == (5, 1, 28, 28)
    assert ((recon >= 0) & (recon <= 1)).all()
    assert set(vae_loss(model, x, beta=0.5)) == {"loss", "bce", "kl", "elbo"}

    detector = VAEDetector(VAEParams(eval_batch_size=16, elbo_samples=3, **SMALL))
    scores = detector.score_samples(images[:40])
    assert set(scores) == set(detector.score_names)
    assert all(s.shape == (40,) and s.dtype == np.float64 for s in scores.values())
    assert detector.reconstruct(images[:40]).shape == (40, 1, 28, 28)
    assert detector.decision_function(images[:40]).shape == (40,)


def test_scores_are_reproducible(images: np.ndarray) -> None:
    detector = VAEDetector(VAEParams(eval_batch_size=32, elbo_samples=4, **SMALL))
    first, second = detector.score_samples(images), detector.score_samples(images)
    np.testing.assert_array_equal(first["bce"], second["bce"])
    np.testing.assert_array_equal(first["elbo"], second["elbo"])
    # elbo adds the KL (>= 0) to a sampled BCE; it must not just repeat the z = mu BCE
    assert not np.array_equal(first["bce"], first["elbo"])
    # another seed draws other z, leaving the deterministic score alone
    other = VAEDetector(VAEParams(eval_batch_size=32, elbo_samples=4, seed=7, **SMALL))
    other.model.load_state_dict(detector.model.state_dict())
    reseeded = other.score_samples(images)
    np.testing.assert_array_equal(first["bce"], reseeded["bce"])
    assert not np.array_equal(first["elbo"], reseeded["elbo"])


def test_fit_trains_on_normals_and_logs_every_term(trained) -> None:
    detector, summary, splits, live = trained
    assert summary["train_images"] == int((splits["train"].labels == 0).sum())
    assert summary["epochs"] == 2
    assert np.isfinite(summary["best_val_loss"])
    for stage in ("train", "val"):
        for term in ("loss", "bce", "kl", "elbo"):
            assert (live / "plots" / "metrics" / stage / f"{term}.tsv").is_file(), (stage, term)
    scores = detector.score_samples(splits["test"].images)
    assert all(np.isfinite(s).all() for s in scores.values())


def test_save_load_roundtrip(trained, tmp_path: Path, images: np.ndarray) -> None:
    detector = trained[0]
    path = tmp_path / "vae.pt"
    detector.save(path)
    loaded = VAEDetector.load(path, detector.params)
    expected, got = detector.score_samples(images), loaded.score_samples(images)
    for name in detector.score_names:
        np.testing.assert_array_equal(expected[name], got[name])
    np.testing.assert_array_equal(detector.reconstruct(images), loaded.reconstruct(images))


def test_plug_in_elbo_is_bce_at_the_mean_plus_kl(images: np.ndarray) -> None:
    """elbo_samples=0 (the default): the ELBO at z = mu, from the same decoder pass as ``bce``."""
    detector = VAEDetector(VAEParams(eval_batch_size=32, **SMALL))
    assert detector.params.elbo_samples == 0
    scores = detector.score_samples(images[:40])
    with torch.inference_mode():
        mu, logvar = detector.model.encode(to_tensor(images[:40]))
    np.testing.assert_allclose(scores["elbo"], scores["bce"] + kl_divergence(mu, logvar).double().numpy(),
                               rtol=1e-6)
