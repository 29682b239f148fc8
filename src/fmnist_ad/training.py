"""Generic training of any :class:`Detector` with Lightning: checkpoints, early stopping,
DVCLive curves, a guard against non-finite losses, and a record of how the run went."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import lightning.pytorch as L
import torch
from dvclive.lightning import DVCLiveLogger
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint

from fmnist_ad.detectors.base import Detector
from fmnist_ad.prepare import ProtocolError, Split


class NonFiniteLossError(FloatingPointError):
    """A training loss became NaN or infinite."""


class FiniteLossGuard(Callback):
    """Stop at the first batch whose returned losses are not finite, naming loss, epoch and batch.

    Reads what ``training_step`` returns (a loss or a dict of losses), so it fires on the very
    batch, not at the end of the epoch when the logged means are updated.
    """

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any,
                           batch: Any, batch_idx: int) -> None:
        items = outputs.items() if isinstance(outputs, dict) else [("loss", outputs)]
        for name, value in items:
            if isinstance(value, torch.Tensor) and not torch.isfinite(value).all():
                raise NonFiniteLossError(
                    f"training loss {name!r} became {value.detach().flatten()[0].item()} at epoch "
                    f"{trainer.current_epoch}, batch {batch_idx}; lower the learning rate or check "
                    "the data. No checkpoint or metrics were written."
                )


class LossModule(L.LightningModule):
    """Trains ``model`` by minimising ``loss_fn(model, x)['loss']``; logs every term per epoch."""

    def __init__(self, model: torch.nn.Module, loss_fn, lr: float, weight_decay: float) -> None:
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn
        self.lr = lr
        self.weight_decay = weight_decay

    def _step(self, batch: tuple[torch.Tensor, ...], stage: str) -> torch.Tensor:
        terms = self.loss_fn(self.model, batch[0])
        for name, value in terms.items():
            self.log(f"{stage}/{name}", value, on_step=False, on_epoch=True,
                     prog_bar=name == "loss", batch_size=len(batch[0]), sync_dist=stage == "val")
        return terms["loss"]

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> None:
        self._step(batch, "val")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.model.parameters(), lr=self.lr, weight_decay=self.weight_decay)


def fit(detector: Detector, splits: dict[str, Split], work_dir: Path, log_dir: Path,
        progress_bar: bool = True) -> dict[str, Any]:
    """Train ``detector`` in place, restore its best checkpoint, run ``after_fit``.

    ``work_dir`` receives Lightning checkpoints (``best.ckpt``, ``last.ckpt``), ``log_dir`` the
    DVCLive curves. Returns a summary: epochs run, best epoch and value, seconds, device.
    """
    params = detector.params
    L.seed_everything(params.seed, workers=True, verbose=False)
    train_loader, val_loader = detector.loaders(splits)
    for name, loader in (("training", train_loader), ("validation", val_loader)):
        if len(loader) == 0:
            raise ProtocolError(f"the {detector.name} detector got an empty {name} set; check the protocol "
                             "params (normal_classes, val_size, val_anomaly_share)")
    module = detector.lightning_module()
    checkpoint = ModelCheckpoint(dirpath=work_dir, filename="best", monitor=detector.monitor,
                                 mode=detector.monitor_mode, save_last=True, save_top_k=1,
                                 enable_version_counter=False)
    callbacks: list[Callback] = [checkpoint, FiniteLossGuard()]
    if detector.patience is not None:
        callbacks.append(EarlyStopping(monitor=detector.monitor, mode=detector.monitor_mode,
                                       patience=detector.patience, check_finite=True))
    logger = DVCLiveLogger(dir=str(log_dir), dvcyaml=False, save_dvc_exp=False, report=None)
    trainer = L.Trainer(
        max_epochs=detector.max_epochs,
        accelerator=params.accelerator,
        devices=params.devices,
        strategy=params.strategy,
        logger=logger,
        callbacks=callbacks,
        deterministic=True,
        enable_progress_bar=progress_bar,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        log_every_n_steps=1,
        default_root_dir=str(work_dir),
    )
    start = time.perf_counter()
    trainer.fit(module, train_loader, val_loader)
    seconds = time.perf_counter() - start
    best = torch.load(checkpoint.best_model_path, map_location="cpu", weights_only=False)
    module.load_state_dict(best["state_dict"])
    detector.model.cpu()
    detector.after_fit(splits)
    best_score = checkpoint.best_model_score
    return {
        "epochs": trainer.current_epoch,
        "best_epoch": int(best["epoch"]),
        f"best_{detector.monitor.replace('/', '_')}": float(best_score) if best_score is not None else None,
        "train_seconds": round(seconds, 2),
        "device": str(trainer.strategy.root_device),
        "accelerator": type(trainer.accelerator).__name__,
        "devices": trainer.num_devices,
        "threads": torch.get_num_threads(),
        "train_images": len(train_loader.dataset),
    }
