"""The one interface every detector implements (scikit-learn vocabulary, higher = more anomalous).

A detector owns a plain torch model. ``lightning_module``/``loaders`` tell the generic trainer
(:mod:`fmnist_ad.training`) how to fit it; ``after_fit`` computes what scoring needs besides
the weights (the AE's KDE reference codes); ``score_samples`` returns named per-image scores.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch import nn

from fmnist_ad.atomic import atomic_path
from fmnist_ad.errors import UserError
from fmnist_ad.params.sections import TrainingParams
from fmnist_ad.prepare import Split
from fmnist_ad.tensors import to_tensor

if TYPE_CHECKING:  # Lightning is imported by training only: scoring does not need it
    import lightning.pytorch as L


class CheckpointError(UserError, RuntimeError):
    """A checkpoint is missing, or belongs to another detector or architecture."""


class Detector(ABC):
    name: ClassVar[str]
    #: the detector's params section schema (a checkpoint stores its section, validated by it)
    params_class: ClassVar[type[TrainingParams]]
    #: params keys that fix the network's shape; a checkpoint must agree on all of them
    arch_keys: ClassVar[tuple[str, ...]] = ()
    #: the Lightning metric used for early stopping / best checkpoint, and its direction
    monitor: ClassVar[str] = "val/loss"
    monitor_mode: ClassVar[str] = "min"
    #: the score names, copied from ``params_class`` (which declares them once, for validation
    #: too): per-image scores in table column order, and those that use training labels
    score_names: ClassVar[tuple[str, ...]]
    labeled_score_names: ClassVar[tuple[str, ...]]
    #: whether a training step runs backward through part of the model only (DDP must then
    #: look for unused parameters)
    partial_backward: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "params_class" in cls.__dict__:
            cls.score_names = cls.params_class.score_names
            cls.labeled_score_names = cls.params_class.labeled_score_names

    def __init__(self, params: TrainingParams) -> None:
        self.params = params
        #: fitted threshold rules (``data/thresholds/M.json``), attached by ``load_detector``
        self.thresholds: dict[str, Any] | None = None
        # initial weights from params.seed alone, whatever used the global generator before
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(params.seed)
            self.model = self.build_model()

    # --- training -----------------------------------------------------------------------
    @abstractmethod
    def build_model(self) -> nn.Module:
        """The plain torch model, from params."""

    @abstractmethod
    def lightning_module(self) -> L.LightningModule:
        """A Lightning module that trains ``self.model`` in place."""

    @abstractmethod
    def loaders(self, splits: dict[str, Split]) -> tuple[Iterable, Iterable]:
        """Training and validation dataloaders over in-memory tensors."""

    @property
    def max_epochs(self) -> int:
        return self.params.max_epochs  # type: ignore[attr-defined]

    @property
    def patience(self) -> int | None:
        """Early-stopping patience in epochs; None trains for ``max_epochs``."""
        return getattr(self.params, "patience", None)

    def after_fit(self, splits: dict[str, Split]) -> None:
        """Fit what scoring needs beyond the weights; training/validation data only."""

    def extra_state(self) -> dict[str, Any]:
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`extra_state` returned."""

    # --- scoring ------------------------------------------------------------------------
    @property
    def main_score(self) -> str:
        return self.params.main_score

    def uses_training_labels(self, score: str) -> bool:
        return score in self.labeled_score_names

    @property
    def device(self) -> torch.device:
        use_gpu = self.params.accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()
        return torch.device("cuda" if use_gpu else "cpu")

    @abstractmethod
    def _score_batch(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-image scores for a float batch (B, 1, 28, 28) already on ``self.device``."""

    @abstractmethod
    def _reconstruct_batch(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstructions, same shape as ``x``."""

    def _batched(self, images: np.ndarray | torch.Tensor, fn) -> list[Any]:
        x = to_tensor(images)
        self.model.to(self.device).eval()
        with torch.inference_mode():
            return [fn(chunk.to(self.device)) for chunk in x.split(self.params.eval_batch_size)]

    def score_samples(self, images: np.ndarray | torch.Tensor) -> dict[str, np.ndarray]:
        """Named per-image anomaly scores (higher = more anomalous), float64 arrays."""
        parts = self._batched(images, self._score_batch)
        names = parts[0].keys() if parts else self.score_names
        return {k: torch.cat([p[k] for p in parts]).double().cpu().numpy() if parts else np.zeros(0)
                for k in names}

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

    def reconstruct(self, images: np.ndarray | torch.Tensor) -> np.ndarray:
        """Reconstructions as float arrays (N, 1, 28, 28) in [0, 1]."""
        return torch.cat(self._batched(images, self._reconstruct_batch)).cpu().numpy()

    # --- persistence --------------------------------------------------------------------
    def arch(self) -> dict[str, Any]:
        return {k: getattr(self.params, k) for k in self.arch_keys}

    def save(self, path: str | Path) -> None:
        state = {
            "detector": self.name,
            "arch": self.arch(),
            "params": self.params.model_dump(mode="json"),
            "state_dict": {k: v.cpu() for k, v in self.model.state_dict().items()},
            "extra": self.extra_state(),
        }
        with atomic_path(path) as tmp:
            torch.save(state, tmp)

    @classmethod
    def load(cls, path: str | Path, params: TrainingParams | None = None) -> Detector:
        """Load weights saved by :meth:`save`, refusing another detector's or architecture's.

        Without ``params``, the section the detector was trained with (stored in the checkpoint).
        """
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"{path}: checkpoint missing; run `dvc repro train@{cls.name}` first")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - any unpickling failure means a bad file
            raise CheckpointError(f"{path}: unreadable checkpoint ({err}); retrain with `dvc repro train@{cls.name}`") from None
        if not isinstance(state, dict) or state.get("detector") != cls.name:
            other = state.get("detector") if isinstance(state, dict) else type(state).__name__
            raise CheckpointError(f"{path}: checkpoint of detector {other!r}, expected {cls.name!r}")
        if params is None:
            if "params" not in state:
                raise CheckpointError(f"{path}: checkpoint stores no params; pass the params section")
            params = cls.params_class.model_validate(state["params"])
        detector = cls(params)
        if state["arch"] != detector.arch():
            raise CheckpointError(
                f"{path}: trained with {state['arch']} but params.yaml now says {detector.arch()}; "
                f"retrain with `dvc repro train@{cls.name}`"
            )
        detector.model.load_state_dict(state["state_dict"])
        detector.load_extra_state(state["extra"])
        return detector
