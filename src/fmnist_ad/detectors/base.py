"""The one interface every detector implements (scikit-learn vocabulary, higher = more anomalous).

:class:`Detector` is what the stages use: ``fit`` on the splits, named per-image
``score_samples``, ``predict`` with a fitted threshold rule, ``save`` / ``load``. Two kinds
implement it. :class:`~fmnist_ad.detectors.network.NetworkDetector` owns a plain torch model that the generic Lightning
trainer (:mod:`fmnist_ad.training`) fits through its ``lightning_module``/``loaders``;
``after_fit`` computes what scoring needs besides the weights (the AE's KDE reference codes).
:class:`~fmnist_ad.detectors.pixels.PixelDetector` wraps an off-the-shelf estimator on raw
pixels (the baselines), fitted in one call.
"""

from __future__ import annotations

import io
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from fmnist_ad.atomic import atomic_path
from fmnist_ad.errors import UserError
from fmnist_ad.params.sections import DetectorParams
from fmnist_ad.prepare import Split


class CheckpointError(UserError, RuntimeError):
    """A checkpoint is missing, or belongs to another detector or architecture."""


class Detector(ABC):
    name: ClassVar[str]
    #: the detector's params section schema (a checkpoint stores its section, validated by it)
    params_class: ClassVar[type[DetectorParams]]
    #: the score names, copied from ``params_class`` (which declares them once, for validation
    #: too): per-image scores in table column order, and those that use training labels
    score_names: ClassVar[tuple[str, ...]]
    labeled_score_names: ClassVar[tuple[str, ...]]
    #: whether ``reconstruct`` gives images (the score stage keeps examples for the figures)
    reconstructs: ClassVar[bool] = False
    #: the `dvc.yaml` stage that fits it (``train@ae``, ``fit@knn``), for messages
    fit_stage: ClassVar[str] = "train"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "params_class" in cls.__dict__:
            cls.score_names = cls.params_class.score_names
            cls.labeled_score_names = cls.params_class.labeled_score_names

    def __init__(self, params: DetectorParams) -> None:
        self.params = params
        #: fitted threshold rules (``data/thresholds/M.json``), attached by ``load_detector``
        self.thresholds: dict[str, Any] | None = None

    @abstractmethod
    def fit(self, splits: dict[str, Split], work_dir: Path, resume: bool = False,
            progress_bar: bool = True) -> dict[str, Any]:
        """Fit on the training splits (never ``test``); returns a record of the run (epochs,
        ``train_seconds``, device, ``train_images``; ``is_global_zero``: whether this process
        writes outputs). ``work_dir`` holds what a resumed run needs."""

    # --- scoring ------------------------------------------------------------------------
    @property
    def main_score(self) -> str:
        return self.params.main_score

    def uses_training_labels(self, score: str) -> bool:
        return score in self.labeled_score_names

    @abstractmethod
    def score_samples(self, images: np.ndarray | torch.Tensor) -> dict[str, np.ndarray]:
        """Named per-image anomaly scores (higher = more anomalous), float64 arrays."""

    def decision_function(self, images: np.ndarray | torch.Tensor) -> np.ndarray:
        """The main score alone."""
        return self.score_samples(images)[self.main_score]

    def predict(self, images: np.ndarray | torch.Tensor, rule: str = "fpr") -> np.ndarray:
        """0/1 verdicts (1 = anomalous) of a fitted threshold rule (``report``, ``f1``, ``mcc``, ``fpr``)."""
        from fmnist_ad.thresholds import RULES, predict

        if self.thresholds is None:
            raise CheckpointError(f"{self.name}: no thresholds attached; load it with "
                                  "fmnist_ad.load_detector(..., thresholds=PATH)")
        if rule not in RULES:
            raise ValueError(f"unknown rule {rule!r}; use one of {list(RULES)}")
        return predict(self.thresholds[rule], self.score_samples(images))

    # --- persistence --------------------------------------------------------------------
    @abstractmethod
    def state(self) -> dict[str, Any]:
        """What a checkpoint stores besides the detector's name and params section."""

    @abstractmethod
    def restore(self, state: dict[str, Any], path: Path) -> None:
        """Load what :meth:`state` returned (read from ``path``, for messages)."""

    def save(self, path: str | Path) -> None:
        state = {"detector": self.name, **self.state(), "params": self.params.model_dump(mode="json")}
        # to a file object: given a path, torch.save names the zip's records after the file,
        # here a random temporary name, and the same weights gave different bytes every run
        with atomic_path(path) as tmp, tmp.open("wb") as f:
            torch.save(state, f)

    @classmethod
    def load(cls, path: str | Path, params: DetectorParams | None = None) -> Detector:
        """Load a detector saved by :meth:`save`, refusing another detector's or architecture's.

        Without ``params``, the section the detector was trained with (stored in the checkpoint).
        """
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"{path}: checkpoint missing; run `dvc repro {cls.fit_stage}@{cls.name}` first")
        try:
            content = path.read_bytes()
        except OSError as err:  # permissions, I/O: the file may be fine, retraining would not help
            raise CheckpointError(f"{path}: cannot be read ({err.strerror}); fix its permissions or storage") from err
        try:
            state = torch.load(io.BytesIO(content), map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - the bytes are there, so any failure means a bad file
            raise CheckpointError(f"{path}: not a readable checkpoint ({' '.join(str(err).split())[:200]}); "
                                  f"rerun `dvc repro {cls.fit_stage}@{cls.name}`") from err
        if not isinstance(state, dict) or state.get("detector") != cls.name:
            other = state.get("detector") if isinstance(state, dict) else type(state).__name__
            raise CheckpointError(f"{path}: checkpoint of detector {other!r}, expected {cls.name!r}")
        if params is None:
            if "params" not in state:
                raise CheckpointError(f"{path}: checkpoint stores no params; pass the params section")
            params = cls.params_class.model_validate(state["params"])
        detector = cls(params)
        detector.restore(state, path)
        return detector
