"""AE + KDE detector: reconstruction errors, code density and code neighbours, a standardised
average of two of them, and (where the protocol labels training anomalies) the report's
normal-versus-anomalous comparisons."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from fmnist_ad.detectors.ae.loss import ae_loss, per_image_blurred_mse, per_image_mse
from fmnist_ad.detectors.ae.model import ConvAutoencoder
from fmnist_ad.detectors.network import NetworkDetector
from fmnist_ad.errors import UserError
from fmnist_ad.kde import GaussianKDE
from fmnist_ad.knn import KNN
from fmnist_ad.params.ae import AEParams
from fmnist_ad.prepare import Split
from fmnist_ad.tensors import batch_loader, to_tensor

if TYPE_CHECKING:
    import lightning.pytorch as L


class LabelsNeededError(UserError, ValueError):
    """A score that compares normal and anomalous training images was asked of a protocol
    that labels no training anomaly."""


class AEDetector(NetworkDetector):
    """Unsupervised scores: ``mse`` (reconstruction, the report's), ``blurred_mse`` (the same
    after a 3x3 blur of the error), ``kde`` (-log density of the code under the codes of the
    unlabeled training split, the report's), ``cos_knn`` (cosine distance of the code to its
    ``knn_k`` nearest training codes) and ``combined`` (mean of the ``combine`` scores, each
    z-standardised on validation normals).

    Scores that use training labels, present when the protocol labels training anomalies
    (contamination of the training split, or the ``labeled`` split), as the report does: it
    knows which training images are anomalous and asks which group an image is closer to.
    ``kde_ratio`` = log density of the code under the anomalous training codes minus that under
    the normal ones; ``mse_gap`` = distance of the image's MSE to the normal training images'
    mean MSE minus its distance to the anomalous ones' (positive: nearer the anomalies).

    Trained on the unlabeled training split (it may hold anomalies when contaminated); early
    stopping watches the reconstruction loss of validation normals.
    """

    name = "ae"
    arch_keys = ("channels",)
    params_class = AEParams
    params: AEParams

    def __init__(self, params: AEParams) -> None:
        super().__init__(params)
        dtype = getattr(torch, params.kde_precision)
        self.kde = GaussianKDE(params.kde_bandwidth, dtype=dtype)
        self.kde_normal = GaussianKDE(params.kde_bandwidth, dtype=dtype)
        self.kde_anomaly = GaussianKDE(params.kde_bandwidth, dtype=dtype)
        self.knn = KNN(params.knn_k, metric="cosine")
        self.mse_means: tuple[float, float] | None = None  # (normal, anomalous) training images
        self.standardise: dict[str, tuple[float, float]] = {}

    def build_model(self) -> ConvAutoencoder:
        return ConvAutoencoder(tuple(self.params.channels))

    def lightning_module(self, splits: dict[str, Split]) -> L.LightningModule:
        from fmnist_ad.training import LossModule  # Lightning: only when training

        return LossModule(self.model, ae_loss, self.params.lr, self.params.weight_decay)

    def loaders(self, splits: dict[str, Split]) -> tuple[Iterable, Iterable]:
        wanted = [s for s in (self.params.main_score, *(self.params.threshold.report_scores or ()))
                  if s in self.labeled_score_names]
        if wanted and not len(labeled_anomalies(splits)):
            raise LabelsNeededError(
                f"ae scores {wanted} compare normal and anomalous training images, but this protocol "
                "labels no training anomaly; set protocol.train_contamination or "
                "protocol.labeled_anomalies above 0, or pick another ae.main_score / report_scores")
        val = splits["val"].subset(splits["val"].labels == 0)
        return (batch_loader(to_tensor(splits["train"].images), batch_size=self.params.batch_size,
                             shuffle=True, seed=self.params.seed),
                batch_loader(to_tensor(val.images), batch_size=self.params.eval_batch_size, shuffle=False))

    def encode(self, images: np.ndarray | torch.Tensor) -> torch.Tensor:
        """The 64-dimensional codes of ``images`` (N, code size), on the CPU: what the KDE sees."""
        return torch.cat(self._batched(images, self.model.encode)).cpu()

    def after_fit(self, splits: dict[str, Split]) -> None:
        """KDE and kNN on the codes of the unlabeled training split; where training anomalies are
        labeled, KDEs and mean MSEs of the normal and the anomalous training images apart;
        z-statistics from validation normals."""
        train = splits["train"]
        codes = self.encode(train.images)
        self.kde.fit(codes)
        self.knn.fit(codes)
        anomalies = labeled_anomalies(splits)
        if len(anomalies):
            normal = train.images[train.labels == 0]
            self.kde_normal.fit(codes[torch.as_tensor(train.labels == 0)])
            self.kde_anomaly.fit(self.encode(anomalies))
            self.mse_means = (float(self._unsupervised(normal)["mse"].mean()),
                              float(self._unsupervised(anomalies)["mse"].mean()))
        raw = self._unsupervised(splits["val"].images[splits["val"].labels == 0])
        self.standardise = {k: (float(raw[k].mean()), float(raw[k].std() or 1.0)) for k in self.params.combine}

    def _unsupervised(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """:meth:`_unsupervised_scores` of ``images`` as float64 arrays, like :meth:`score_samples`."""
        parts = self._batched(images, self._unsupervised_scores)
        return {k: torch.cat([p[k] for p in parts]).double().cpu().numpy() for k in parts[0] if k != "code"}

    def extra_state(self) -> dict[str, Any]:
        state = {"kde_points": self.kde.points, "kde_bandwidth": self.kde.bandwidth,
                 "standardise": self.standardise}
        if self.mse_means is not None:
            state.update(kde_normal=(self.kde_normal.points, self.kde_normal.bandwidth),
                         kde_anomaly=(self.kde_anomaly.points, self.kde_anomaly.bandwidth),
                         mse_means=self.mse_means)
        return state

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.kde.restore(state["kde_points"], state["kde_bandwidth"])
        self.knn.fit(state["kde_points"])  # the same training codes
        self.standardise = state["standardise"]
        if "mse_means" in state:
            self.kde_normal.restore(*state["kde_normal"])
            self.kde_anomaly.restore(*state["kde_anomaly"])
            self.mse_means = tuple(state["mse_means"])

    def _unsupervised_scores(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The scores that need neither labels nor validation statistics, and the code."""
        code = self.model.encode(x)
        recon = self.model.decode(code)
        return {"mse": per_image_mse(x, recon), "blurred_mse": per_image_blurred_mse(x, recon),
                "kde": -self.kde.log_density(code), "cos_knn": self.knn.distance(code), "code": code}

    def _score_batch(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every score of a fitted detector: the unsupervised ones, ``combined`` and, when the
        protocol labeled training anomalies (``mse_means`` set by :meth:`after_fit`), the two
        that compare with them."""
        scores = self._unsupervised_scores(x)
        code = scores.pop("code")
        if self.mse_means is not None:
            scores["kde_ratio"] = self.kde_anomaly.log_density(code) - self.kde_normal.log_density(code)
            scores["mse_gap"] = mse_gap(scores["mse"], *self.mse_means)
        if self.standardise:
            scores["combined"] = combined(scores, self.standardise)
        return scores

    def _reconstruct_batch(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def labeled_anomalies(splits: dict[str, Split]) -> np.ndarray:
    """Training images known to be anomalous: the training split's contamination and the
    ``labeled`` split."""
    train = splits["train"]
    return np.concatenate([train.images[train.labels == 1], splits["labeled"].images])


def mse_gap(mse: torch.Tensor, normal_mse: float, anomaly_mse: float) -> torch.Tensor:
    """``mse_gap``: how much farther an image's MSE lies from the normal training images' mean
    MSE than from the anomalous ones' (positive: nearer the anomalies)."""
    return (mse - normal_mse).abs() - (mse - anomaly_mse).abs()


def combined(scores: dict[str, torch.Tensor], standardise: dict[str, tuple[float, float]]) -> torch.Tensor:
    """``combined``: the mean of the named scores, each z-standardised by its (mean, std) on
    validation normals, so that no score dominates by its scale."""
    return torch.stack([(scores[k].double() - mu) / sd for k, (mu, sd) in standardise.items()]).mean(dim=0)
