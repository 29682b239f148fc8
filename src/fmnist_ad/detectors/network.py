"""Detectors that own a plain torch model: the generic Lightning trainer
(:mod:`fmnist_ad.training`) fits it through ``lightning_module``/``loaders``, ``after_fit``
computes what scoring needs besides the weights (the AE's KDE reference codes), and scoring
runs the model over in-memory tensors in batches."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch import nn

from fmnist_ad.detectors.base import CheckpointError, Detector
from fmnist_ad.params.sections import TrainingParams
from fmnist_ad.prepare import Split
from fmnist_ad.tensors import to_tensor

if TYPE_CHECKING:  # Lightning is imported by training only: scoring does not need it
    import lightning.pytorch as L


class NetworkDetector(Detector):
    """A detector that owns a plain torch model, trained by :func:`fmnist_ad.training.fit`."""

    params: TrainingParams
    reconstructs = True
    #: params keys that fix the network's shape; a checkpoint must agree on all of them
    arch_keys: ClassVar[tuple[str, ...]] = ()
    #: the Lightning metric used for early stopping / best checkpoint, and its direction
    monitor: ClassVar[str] = "val/loss"
    monitor_mode: ClassVar[str] = "min"
    #: whether a training step runs backward through part of the model only (DDP must then
    #: look for unused parameters)
    partial_backward: ClassVar[bool] = False

    def __init__(self, params: TrainingParams) -> None:
        super().__init__(params)
        # initial weights from params.seed alone, whatever used the global generator before
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(params.seed)
            # channels-last: oneDNN's kernels for these 1-128 channel maps train the AE 30%, the
            # VAE 15% and the GAN 12% faster on the CPU (docs/speed.md); state dicts unchanged
            self.model = self.build_model().to(memory_format=torch.channels_last)

    # --- training -----------------------------------------------------------------------
    def fit(self, splits: dict[str, Split], work_dir: Path, resume: bool = False,
            progress_bar: bool = True) -> dict[str, Any]:
        """Lightning training (:func:`fmnist_ad.training.fit`), then :meth:`after_fit`."""
        from fmnist_ad.training import fit  # Lightning: only when training

        return fit(self, splits, work_dir, resume=resume, progress_bar=progress_bar)

    @abstractmethod
    def build_model(self) -> nn.Module:
        """The plain torch model, from params."""

    @abstractmethod
    def lightning_module(self, splits: dict[str, Split]) -> L.LightningModule:
        """A Lightning module that trains ``self.model`` in place (``splits``: for modules whose
        validation compares with the training images)."""

    @abstractmethod
    def loaders(self, splits: dict[str, Split]) -> tuple[Iterable, Iterable]:
        """Training and validation dataloaders over in-memory tensors."""

    @property
    def patience(self) -> int | None:
        """Early-stopping patience in epochs; None trains for ``params.epochs``."""
        return getattr(self.params, "patience", None)

    def after_fit(self, splits: dict[str, Split]) -> None:
        """Fit what scoring needs beyond the weights; training/validation data only."""

    def extra_state(self) -> dict[str, Any]:
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`extra_state` returned."""

    # --- scoring ------------------------------------------------------------------------
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
        parts = self._batched(images, self._score_batch)
        names = parts[0].keys() if parts else self.score_names
        return {k: torch.cat([p[k] for p in parts]).double().cpu().numpy() if parts else np.zeros(0)
                for k in names}

    def reconstruct(self, images: np.ndarray | torch.Tensor) -> np.ndarray:
        """Reconstructions as float arrays (N, 1, 28, 28) in [0, 1]."""
        return torch.cat(self._batched(images, self._reconstruct_batch)).cpu().numpy()

    # --- persistence --------------------------------------------------------------------
    def arch(self) -> dict[str, Any]:
        return {k: getattr(self.params, k) for k in self.arch_keys}

    def state(self) -> dict[str, Any]:
        return {"arch": self.arch(), "state_dict": {k: v.cpu() for k, v in self.model.state_dict().items()},
                "extra": self.extra_state()}

    def restore(self, state: dict[str, Any], path: Path) -> None:
        if state["arch"] != self.arch():
            raise CheckpointError(
                f"{path}: trained with {state['arch']} but params.yaml now says {self.arch()}; "
                f"retrain with `dvc repro train@{self.name}`"
            )
        self.model.load_state_dict(state["state_dict"])
        self.load_extra_state(state["extra"])
