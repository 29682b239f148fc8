"""The scores and the threshold rule of the scores issue, on hand-made tensors with known values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from fmnist_ad.detectors.ae.detector import AEDetector
from fmnist_ad.detectors.ae.loss import per_image_blurred_mse
from fmnist_ad.detectors.ae.detector import LabelsNeededError, labeled_anomalies
from fmnist_ad.detectors.vae.loss import per_image_bce, pixel_entropy
from fmnist_ad.knn import KNN
from fmnist_ad.params.ae import AEParams
from fmnist_ad.params.sections import ThresholdParams
from fmnist_ad.prepare import Split
from fmnist_ad.thresholds import best_cut, fit_thresholds, predict


def test_pixel_entropy_of_constant_images() -> None:
    x = torch.stack([torch.full((1, 28, 28), 0.5), torch.zeros(1, 28, 28), torch.ones(1, 28, 28)])
    h = pixel_entropy(x)
    assert h[0].item() == pytest.approx(784 * math.log(2))
    assert h[1].item() == 0.0 and h[2].item() == 0.0


def test_bce_minus_entropy_is_the_pixelwise_kl() -> None:
    """BCE(x, p) - H(x) = sum KL(Ber(x) || Ber(p)): zero for a perfect reconstruction, positive
    otherwise, whatever the amount of grey in x."""
    torch.manual_seed(0)
    x = torch.rand(4, 1, 28, 28)
    assert (per_image_bce(x, x) - pixel_entropy(x)).abs().max().item() < 1e-2
    p = torch.rand(4, 1, 28, 28).clamp(0.01, 0.99)
    kl = (x * torch.log(x / p) + (1 - x) * torch.log((1 - x) / (1 - p))).flatten(1).sum(1)
    assert torch.allclose(per_image_bce(x, p) - pixel_entropy(x), kl, rtol=1e-4)


def test_blurred_mse_of_a_constant_error() -> None:
    """A 3x3 image off by d everywhere: the zero-padded 3x3 box blur keeps d at the centre,
    6d/9 on the edges and 4d/9 in the corners, so the mean square is (81 + 4*36 + 4*16)/729 d^2."""
    x, d = torch.zeros(2, 1, 3, 3), torch.tensor([0.5, 2.0])
    recon = x + d.view(2, 1, 1, 1)
    expected = (81 + 4 * 36 + 4 * 16) / 729 * d**2
    torch.testing.assert_close(per_image_blurred_mse(x, recon), expected)
    assert per_image_blurred_mse(x, x).tolist() == [0.0, 0.0]


def test_cosine_knn_distance_ignores_length() -> None:
    knn = KNN(k=1, metric="cosine").fit(torch.tensor([[1.0, 0.0], [0.0, 3.0]]))
    d = knn.distance(torch.tensor([[5.0, 0.0], [0.0, 0.1], [-1.0, 0.0], [1.0, 1.0]]))
    torch.testing.assert_close(d, torch.tensor([0.0, 0.0, 1.0, 1 - 2**-0.5]))
    both = KNN(k=2, metric="cosine").fit(torch.tensor([[1.0, 0.0], [0.0, 3.0]]))  # mean over the 2 nearest
    torch.testing.assert_close(both.distance(torch.tensor([[2.0, 0.0]])), torch.tensor([0.5]))
    with pytest.raises(RuntimeError, match="before fit"):
        KNN().distance(torch.zeros(1, 2))


def test_euclidean_knn_distance_is_the_mean_of_the_k_nearest() -> None:
    """References at 0, 1 and 10 on a line: from 2 the nearest two are 1 and 2 away (mean 1.5);
    queries come in batches smaller than the query count, and k larger than the references
    averages over all of them."""
    knn = KNN(k=2, metric="euclidean", batch_size=1).fit(torch.tensor([[0.0, 0.0], [1.0, 0.0], [10.0, 0.0]]))
    torch.testing.assert_close(knn.distance(torch.tensor([[2.0, 0.0], [10.0, 0.0], [0.0, 3.0]])),
                               torch.tensor([1.5, 4.5, (3.0 + 10**0.5) / 2]))
    every = KNN(k=5, metric="euclidean").fit(torch.tensor([[0.0], [4.0]]))
    torch.testing.assert_close(every.distance(torch.tensor([[1.0]])), torch.tensor([2.0]))
    with pytest.raises(ValueError, match="metric"):
        KNN(metric="manhattan")  # type: ignore[arg-type]


def test_mcc_cut_does_not_flag_everything_under_imbalance() -> None:
    """90% anomalies: flagging everything gives F1 0.947, so the F1 cut drops below every normal;
    the MCC cut separates."""
    normals = np.arange(10, dtype=float)                      # 0..9
    anomalies = np.concatenate([np.linspace(0, 9, 30), np.linspace(20, 30, 60)])
    scores = np.concatenate([normals, anomalies])
    labels = np.array([0] * 10 + [1] * 90)
    assert best_cut(scores, labels, "f1") == 0.0               # flags all: F1 180/190 = 0.947
    assert best_cut(scores, labels, "mcc") == 20.0             # tp 60, tn 10: MCC 0.41 (all: 0)
    t = fit_thresholds(pd.DataFrame({"label": labels, "s": scores}), "s", ThresholdParams())
    assert t["mcc"]["cut"] == {"s": 20.0}


def _split(images: np.ndarray, labels: list[int]) -> Split:
    labels_arr = np.array(labels, dtype=np.uint8)
    return Split(images, labels_arr.astype(np.int64), labels_arr, np.arange(len(images)))


def _images(brightness: float, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.zeros((n, 28, 28), dtype=np.uint8)
    img[:, 8:20, 8:20] = int(brightness * 255)
    return (img + rng.integers(0, 20, size=img.shape)).astype(np.uint8)


def test_ae_labeled_scores_compare_the_two_training_groups() -> None:
    """With labeled training anomalies the AE scores kde_ratio and mse_gap: an image like the
    anomalies scores higher than one like the normals; without labels those scores are absent."""
    params = AEParams(channels=[4, 8, 8], epochs=1, eval_batch_size=16)
    normal, anomalous = _images(0.2, 24, 0), _images(1.0, 24, 1)
    splits = {"train": _split(np.concatenate([normal, anomalous[:12]]), [0] * 24 + [1] * 12),
              "labeled": _split(anomalous[12:], [1] * 12),
              "val": _split(np.concatenate([normal[:4], anomalous[:4]]), [0] * 4 + [1] * 4)}
    assert len(labeled_anomalies(splits)) == 24
    detector = AEDetector(params)
    detector.after_fit(splits)
    scores = detector.score_samples(np.concatenate([_images(0.2, 4, 5), _images(1.0, 4, 6)]))
    assert {"mse", "kde", "combined", "kde_ratio", "mse_gap"} <= set(scores)
    assert scores["kde_ratio"][4:].min() > scores["kde_ratio"][:4].max()
    assert detector.uses_training_labels("kde_ratio") and not detector.uses_training_labels("kde")

    unlabeled = {**splits, "train": _split(normal, [0] * 24), "labeled": _split(normal[:0], [])}
    plain = AEDetector(params)
    plain.after_fit(unlabeled)
    assert "kde_ratio" not in plain.score_samples(normal[:2])


def test_ae_label_scores_without_labels_are_refused_before_training() -> None:
    params = AEParams(channels=[4, 8, 8], main_score="kde_ratio")
    normal = _images(0.2, 8, 0)
    splits = {"train": _split(normal, [0] * 8), "labeled": _split(normal[:0], []),
              "val": _split(normal, [0] * 8)}
    with pytest.raises(LabelsNeededError, match="train_contamination"):
        AEDetector(params).loaders(splits)


def _constant(values: list[int]) -> np.ndarray:
    """Images whose every pixel is ``value`` / 255."""
    return np.full((len(values), 28, 28), np.array(values, dtype=np.uint8)[:, None, None])


def _pixel_mean_scores(detector: AEDetector, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unsupervised scores made known: ``mse`` and ``cos_knn`` = the image's pixel mean,
    ``blurred_mse`` twice that, ``kde`` its negative (the code stays the network's)."""
    def scores(x: torch.Tensor) -> dict[str, torch.Tensor]:
        m = x.flatten(1).mean(dim=1)
        return {"mse": m, "blurred_mse": 2 * m, "kde": -m, "cos_knn": m, "code": detector.model.encode(x)}

    monkeypatch.setattr(detector, "_unsupervised_scores", scores)


def test_ae_combined_known_answer_standardised_on_validation_normals(monkeypatch: pytest.MonkeyPatch) -> None:
    """``combined`` = mean over cos_knn and blurred_mse of (score - mean) / std, both taken over
    the validation normals (pixel means 0.2, 0.4, 0.6: mean 0.4, std sqrt(0.08/3)), not over
    training or the validation anomalies (which would move them)."""
    detector = AEDetector(AEParams(channels=[4, 8, 8], combine=["cos_knn", "blurred_mse"]))
    _pixel_mean_scores(detector, monkeypatch)
    splits = {"train": _split(_constant([255] * 4), [0] * 4), "labeled": _split(_constant([]), []),
              "val": _split(_constant([51, 102, 153, 255, 255]), [0, 0, 0, 1, 1])}
    detector.after_fit(splits)
    sd = math.sqrt(0.08 / 3)
    assert detector.standardise["cos_knn"] == pytest.approx((0.4, sd))
    assert detector.standardise["blurred_mse"] == pytest.approx((0.8, 2 * sd))
    combined = detector.score_samples(_constant([153, 102, 0]))["combined"]
    assert combined == pytest.approx([0.2 / sd, 0.0, -0.4 / sd], abs=1e-6)  # float32 pixel means; z of 0.6, 0.4, 0


def test_ae_mse_gap_known_answer_from_the_two_training_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    """``mse_gap`` = |mse - normal mean| - |mse - anomaly mean|, with the means over the normal
    training images (0.2) and over every labeled anomaly, contamination and ``labeled`` split
    together (0.6, 0.8, 1.0: mean 0.8)."""
    detector = AEDetector(AEParams(channels=[4, 8, 8]))
    _pixel_mean_scores(detector, monkeypatch)
    splits = {"train": _split(_constant([51, 51, 153]), [0, 0, 1]),
              "labeled": _split(_constant([204, 255]), [1, 1]),
              "val": _split(_constant([51, 102, 255]), [0, 0, 1])}
    detector.after_fit(splits)
    assert detector.mse_means == pytest.approx((0.2, 0.8))
    gap = detector.score_samples(_constant([51, 102, 204, 255]))["mse_gap"]
    assert gap == pytest.approx([-0.6, -0.2, 0.6, 0.6])  # 0 - 0.6, 0.2 - 0.4, 0.6 - 0, 0.8 - 0.2


def test_fpr_rule_when_no_cut_reaches_the_target_flags_nothing() -> None:
    """Tied validation normals at the top score: every cut has FPR 1/2 > 5%, so the cut goes
    just above the highest score and nothing is flagged."""
    val = pd.DataFrame({"label": [0, 0, 1, 1], "s": [1.0, 3.0, 3.0, 2.0]})
    t = fit_thresholds(val, "s", ThresholdParams(target_fpr=0.05))
    assert t["fpr"]["cut"]["s"] == np.nextafter(3.0, np.inf)
    assert predict(t["fpr"], val).sum() == 0
