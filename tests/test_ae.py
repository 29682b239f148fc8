"""The autoencoder, its KDE and the detector interface on small synthetic data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from sklearn.neighbors import KernelDensity

from conftest import synthetic_images
from fmnist_ad.detectors.ae.detector import AEDetector
from fmnist_ad.detectors.ae.loss import ae_loss
from fmnist_ad.detectors.ae.model import ConvAutoencoder
from fmnist_ad.detectors.base import CheckpointError
from fmnist_ad.kde import GaussianKDE
from fmnist_ad.params.ae import AEParams
from fmnist_ad.prepare import Split
from fmnist_ad.tensors import ImageInputError, to_tensor
from fmnist_ad.training import fit


def _split(classes: np.ndarray, seed: int, normal=(0,)) -> Split:
    labels = (~np.isin(classes, normal)).astype(np.uint8)
    return Split(synthetic_images(classes, seed), classes, labels, np.arange(len(classes)))


def _splits() -> dict[str, Split]:
    return {
        "train": _split(np.zeros(64, np.uint8), 0),
        "labeled": _split(np.ones(0, np.uint8), 1),
        "val": _split(np.repeat(np.arange(3, dtype=np.uint8), 16), 2),
        "test": _split(np.repeat(np.arange(3, dtype=np.uint8), 16), 3),
    }


def test_shapes() -> None:
    model = ConvAutoencoder((16, 32, 64))
    x = torch.rand(5, 1, 28, 28)
    assert model.encode(x).shape == (5, 64)
    assert model(x).shape == x.shape
    assert 0 <= model(x).min() and model(x).max() <= 1


def test_loss_decreases() -> None:
    torch.manual_seed(0)
    model = ConvAutoencoder((8, 16, 32))
    x = to_tensor(synthetic_images(np.zeros(64, np.uint8), 0))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = ae_loss(model, x)["loss"].item()
    for _ in range(60):
        opt.zero_grad()
        ae_loss(model, x)["loss"].backward()
        opt.step()
    assert ae_loss(model, x)["loss"].item() < 0.5 * first


@pytest.mark.parametrize(("dtype", "rtol"), [(torch.float64, 1e-9), (torch.float32, 1e-6)])
def test_kde_matches_sklearn_and_ranks_far_code_lower(dtype: torch.dtype, rtol: float) -> None:
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(200, 8))
    queries = np.vstack([rng.normal(size=(5, 8)), np.full((1, 8), 6.0)])
    kde = GaussianKDE(bandwidth=0.7, batch_size=2, dtype=dtype).fit(torch.from_numpy(ref))
    ours = kde.log_density(torch.from_numpy(queries)).numpy()
    assert ours.dtype == np.float64
    theirs = KernelDensity(bandwidth=0.7).fit(ref).score_samples(queries[:5])
    np.testing.assert_allclose(ours[:5], theirs, rtol=rtol)
    # far from every point sklearn's tree bounds lose precision; check against the formula
    d2 = ((queries[-1] - ref) ** 2).sum(axis=1)
    exact = logsumexp(-d2 / (2 * 0.7**2)) - np.log(200) - 4 * np.log(2 * np.pi * 0.7**2)
    assert ours[-1] == pytest.approx(exact, rel=rtol)
    assert ours[-1] < ours[:-1].min()
    assert GaussianKDE("scott").fit(torch.from_numpy(ref)).bandwidth > 0


@pytest.mark.parametrize(("dtype", "atol"), [(torch.float64, 1e-12), (torch.float32, 2e-4)])
def test_kde_keeps_terms_hundreds_of_nats_below_the_largest(dtype: torch.dtype, atol: float) -> None:
    """Log-kernels that span far more than float32's exponent range (the real AE codes span ~700
    nats): the floor that keeps ``exp`` off subnormals must not change the density (float64
    shows it). Float32's error is absolute, ~eps * |q| |r| / h^2 from the expanded dot
    product: ~1e-4 nats here."""
    ref = np.array([[0.0], [1.0], [30.0]])
    queries = np.array([[0.2], [29.0], [15.0]])
    got = GaussianKDE(bandwidth=0.5, dtype=dtype).fit(torch.from_numpy(ref)).log_density(torch.from_numpy(queries))
    log_k = -((queries - ref.T) ** 2) / (2 * 0.25) - np.log(3) - 0.5 * np.log(2 * np.pi * 0.25)
    np.testing.assert_allclose(got.numpy(), logsumexp(log_k, axis=1), rtol=0, atol=atol)


def test_detector_fit_score_save_load(tmp_path: Path) -> None:
    params = AEParams(epochs=2, batch_size=16, eval_batch_size=32, channels=[8, 16, 32], lr=1e-3)
    detector = AEDetector(params)
    info = fit(detector, _splits(), tmp_path / "work", progress_bar=False)
    assert info["epochs"] == 2 and info["device"] == "cpu"
    assert (tmp_path / "work" / "dvclive" / "plots" / "metrics" / "train" / "loss.tsv").is_file()
    scores = detector.score_samples(_splits()["test"].images)
    assert set(scores) == set(detector.score_names) and all(len(v) == 48 for v in scores.values())
    detector.save(tmp_path / "model.pt")
    again = AEDetector.load(tmp_path / "model.pt", params)
    for k, v in again.score_samples(_splits()["test"].images).items():
        np.testing.assert_allclose(v, scores[k])
    with pytest.raises(CheckpointError, match="channels"):
        AEDetector.load(tmp_path / "model.pt", params.model_copy(update={"channels": [8, 16, 64]}))
    with pytest.raises(CheckpointError, match="missing"):
        AEDetector.load(tmp_path / "nothing.pt", params)


def test_bad_images_are_refused() -> None:
    with pytest.raises(ImageInputError, match="shape"):
        to_tensor(np.zeros((2, 32, 32), np.uint8))
    with pytest.raises(ImageInputError, match=r"\[0, 1\]"):
        to_tensor(np.full((2, 28, 28), 255.0, np.float32))
    with pytest.raises(ImageInputError, match="dtype"):
        to_tensor(np.zeros((2, 28, 28), np.int32))
