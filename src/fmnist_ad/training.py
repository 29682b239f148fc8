"""Generic training of any :class:`NetworkDetector` with Lightning: checkpoints, early stopping,
DVCLive curves, resuming, a guard against non-finite losses, and a record of the run."""

from __future__ import annotations

import logging
import os
import shutil
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lightning.pytorch as L
import torch
import torch.utils.deterministic
from dvclive.lightning import DVCLiveLogger
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from lightning.pytorch.strategies import StrategyRegistry

from fmnist_ad.detectors.network import NetworkDetector
from fmnist_ad.errors import UserError
from fmnist_ad.prepare import ProtocolError, Split


class _NoAdvertising(logging.Filter):
    """Drops Lightning's "💡 Tip" line (an advert for a cloud logger) printed at every fit."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("💡 Tip")


# Lightning's "lightning" logger has its own console handler and also propagates to the root
# handler that stages install, so each of its lines printed twice: keep its own, once.
logging.getLogger("lightning").propagate = False
logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_NoAdvertising())
# Lightning 2.6 calls torch's deprecated `LeafSpec` check at every fit; ours to read, not to fix
warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")


class NonFiniteLossError(UserError, FloatingPointError):
    """A training loss became NaN or infinite."""


class FiniteLossGuard(Callback):
    """Stop at the first batch whose returned losses are not finite, naming loss, epoch and batch.

    Reads what ``training_step`` returns (a loss or a dict of losses), so the message names the
    very batch, not the epoch's logged mean. Losses on the CPU are checked at once. Reading a GPU
    loss makes the CPU wait for the GPU, which on small models costs as much as the step itself,
    so GPU losses are checked together at the epoch's last training batch (one wait per epoch),
    before validation and checkpoints: a non-finite epoch still leaves nothing behind.
    ``defer`` forces either behaviour (None: by the loss's device).
    """

    def __init__(self, defer: bool | None = None) -> None:
        self.defer = defer
        self._pending: list[tuple[int, int, str, torch.Tensor]] = []  # (epoch, batch, name, loss)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any,
                           batch: Any, batch_idx: int) -> None:
        items = outputs.items() if isinstance(outputs, dict) else [("loss", outputs)]
        losses = [(name, value.detach()) for name, value in items if isinstance(value, torch.Tensor)]
        self._pending += [(trainer.current_epoch, batch_idx, name, loss) for name, loss in losses]
        on_gpu = any(loss.device.type != "cpu" for _, loss in losses)
        defer = on_gpu if self.defer is None else self.defer
        if not defer or batch_idx == trainer.num_training_batches - 1:
            self._check()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._check()  # an epoch cut short of its last batch

    def _check(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        finite = torch.stack([torch.isfinite(loss).all() for *_, loss in pending]).cpu()
        if not finite.all():
            epoch, batch_idx, name, loss = pending[int((~finite).nonzero()[0])]
            raise NonFiniteLossError(
                f"training loss {name!r} became {loss.flatten()[0].item()} at epoch {epoch}, "
                f"batch {batch_idx}; lower the learning rate or check the data. No checkpoint or "
                "metrics were written."
            )


class StepSeed(Callback):
    """Reseed torch before every training batch and validation pass from (seed, epoch, batch).

    Random draws (the VAE's noise) then depend on where training is, not on how much randomness
    anything else consumed before, so a run resumed from a checkpoint repeats an uninterrupted one.
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any,
                             batch_idx: int) -> None:
        self._reseed(self.seed + 100_003 * trainer.current_epoch + batch_idx)

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._reseed(self.seed + 100_003 * trainer.current_epoch + 99_991)

    @staticmethod
    def _reseed(seed: int) -> None:
        """``torch.manual_seed`` minus its cost on CPU runs: while CUDA is not initialised, torch
        queues the CUDA seeding together with a formatted stack trace, which under Lightning's
        deep call stack took ~0.4 ms per training step. An uninitialised CUDA has drawn nothing."""
        torch.default_generator.manual_seed(seed)
        if torch.cuda.is_initialized():
            torch.cuda.manual_seed_all(seed)


class EpochMeans(L.LightningModule):
    """Logs batch-size-weighted epoch means of loss terms, once per epoch.

    What ``self.log(name, value, on_epoch=True, batch_size=n)`` at every step computes (the same
    float32 sums of ``value * n`` divided by the summed ``n``, so the logged values are
    bit-identical), without its cost: each such call took ~0.8 ms of Python per training step
    (measured: 0.81 ms of a ~37 ms AE step with one term, 1.66 ms per VAE step with four).
    Modules call :meth:`accumulate` in their steps and :meth:`log_epoch_means` at epoch end.
    """

    def __init__(self) -> None:
        super().__init__()
        self._epoch_sums: dict[str, dict[str, tuple[torch.Tensor, int]]] = {}  # stage -> name -> (sum, n)

    def accumulate(self, stage: str, terms: dict[str, torch.Tensor], batch_size: int) -> None:
        sums = self._epoch_sums.setdefault(stage, {})
        for name, value in terms.items():
            value = value.detach()
            if value.dtype not in (torch.float32, torch.float64):
                value = value.float()
            total, count = sums.get(name, (torch.zeros((), device=value.device), 0))
            sums[name] = (total + value * batch_size, count + batch_size)

    def log_epoch_means(self, stage: str, prog_bar: tuple[str, ...] = ("loss",)) -> None:
        """Log ``stage/name`` for every term accumulated since the last call (reduced over DDP
        ranks as means), then start over."""
        for name, (total, count) in self._epoch_sums.pop(stage, {}).items():
            self.log(f"{stage}/{name}", total / count, prog_bar=name in prog_bar, sync_dist=True)


class LossModule(EpochMeans):
    """Trains ``model`` by minimising ``loss_fn(model, x)['loss']``; logs every term per epoch."""

    def __init__(self, model: torch.nn.Module, loss_fn, lr: float, weight_decay: float) -> None:
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn
        self.lr = lr
        self.weight_decay = weight_decay

    def _step(self, batch: tuple[torch.Tensor, ...], stage: str) -> torch.Tensor:
        terms = self.loss_fn(self.model, batch[0])
        self.accumulate(stage, terms, len(batch[0]))
        return terms["loss"]

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> None:
        self._step(batch, "val")

    def on_train_epoch_end(self) -> None:
        self.log_epoch_means("train")

    def on_validation_epoch_end(self) -> None:
        self.log_epoch_means("val")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.model.parameters(), lr=self.lr, weight_decay=self.weight_decay)


def fit(detector: NetworkDetector, splits: dict[str, Split], work_dir: Path, resume: bool = False,
        progress_bar: bool = True, callbacks: Sequence[Callback] = ()) -> dict[str, Any]:
    """Train ``detector`` in place, restore its best checkpoint, run ``after_fit``.

    ``work_dir`` holds Lightning checkpoints (``checkpoints/best.ckpt``, ``last.ckpt``) and the
    DVCLive curves (``dvclive/``). It is emptied first unless ``resume``, in which case training
    continues from ``checkpoints/last.ckpt`` when there is one. ``callbacks`` join the Trainer's
    own (the speed benchmark times epochs through them). Returns a summary of the run;
    ``is_global_zero`` says whether this process is the one that should write outputs.
    """
    params = detector.params
    train_loader, val_loader = detector.loaders(splits)
    for name, loader in (("training", train_loader), ("validation", val_loader)):
        if len(loader.dataset) == 0:
            raise ProtocolError(f"the {detector.name} detector got an empty {name} set; check the "
                                "protocol params (normal_classes, val_size, val_anomaly_share)")
    ckpt_dir, log_dir = work_dir / "checkpoints", work_dir / "dvclive"
    last = ckpt_dir / "last.ckpt"
    resuming = resume and last.is_file()
    if not resuming and work_dir.exists() and _is_global_zero_env():
        shutil.rmtree(work_dir)
    L.seed_everything(params.seed, workers=True, verbose=False)
    checkpoint = ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor=detector.monitor,
                                 mode=detector.monitor_mode, save_top_k=1, enable_version_counter=False)
    # every epoch, for resuming: Lightning's own save_last writes only when the monitor improves
    latest = ModelCheckpoint(dirpath=ckpt_dir, filename=last.stem, save_top_k=1, enable_version_counter=False)
    trainer_callbacks: list[Callback] = [checkpoint, latest, FiniteLossGuard(), StepSeed(params.seed), *callbacks]
    if detector.patience is not None:
        trainer_callbacks.append(EarlyStopping(monitor=detector.monitor, mode=detector.monitor_mode,
                                               patience=detector.patience, check_finite=True))
    logger = DVCLiveLogger(dir=str(log_dir), dvcyaml=False, save_dvc_exp=False, report=None,
                           resume=resuming)
    trainer = L.Trainer(
        max_epochs=detector.params.epochs,
        accelerator=params.accelerator,
        devices=params.devices,
        num_nodes=params.num_nodes,
        strategy=strategy(detector),
        # under DDP, batch-norm statistics over the global batch as one process computes them
        # (only parallel strategies use it; torch's SyncBatchNorm runs on GPUs only, so on CPU
        # each rank normalises its own share)
        sync_batchnorm=params.accelerator != "cpu" and torch.cuda.is_available(),
        logger=logger,
        callbacks=trainer_callbacks,
        deterministic=True,
        use_distributed_sampler=False,   # our samplers shard training data themselves
        enable_progress_bar=progress_bar,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        log_every_n_steps=1,
        default_root_dir=str(work_dir),
    )
    start = time.perf_counter()
    with _deterministic_fit():
        trainer.fit(detector.lightning_module(splits), train_loader, val_loader,
                    ckpt_path=str(last) if resuming else None)
    seconds = time.perf_counter() - start
    if not trainer.is_global_zero:
        return {"is_global_zero": False}
    best = torch.load(checkpoint.best_model_path or last, map_location="cpu", weights_only=False)
    detector.model.load_state_dict({k.removeprefix("model."): v for k, v in best["state_dict"].items()
                                    if k.startswith("model.")})
    detector.model.cpu()
    detector.after_fit(splits)
    best_score = checkpoint.best_model_score
    return {
        "epochs": trainer.current_epoch,
        "best_epoch": int(best["epoch"]),
        f"best_{detector.monitor.replace('/', '_')}": float(best_score) if best_score is not None else None,
        "train_seconds": round(seconds, 2),
        "resumed": resuming,
        "device": str(trainer.strategy.root_device),
        "accelerator": type(trainer.accelerator).__name__,
        "devices": trainer.num_devices,
        "strategy": type(trainer.strategy).__name__,
        "threads": torch.get_num_threads(),
        "train_images": len(train_loader.dataset),
        "is_global_zero": trainer.is_global_zero,
    }


@contextmanager
def _deterministic_fit() -> Iterator[None]:
    """Run ``trainer.fit`` with deterministic kernels but without NaN filling, then leave both.

    ``deterministic=True`` sets two process-wide torch switches. Deterministic kernels are what
    training needs; after it they would make later CUDA scoring fail on ops that have no
    deterministic kernel, so they are switched off on the way out. The other switch fills each
    uninitialised tensor with NaN, a debugging aid that makes a kernel reading memory it never
    wrote fail loudly. None of the kernels used here does, so it only adds a pass over every
    activation and gradient: 2.4 ms of a 40 ms AE step on this project's CPU (profiled), and a
    fill kernel per allocation on a GPU. Results are bit-identical without it.
    """
    previous = torch.utils.deterministic.fill_uninitialized_memory
    torch.utils.deterministic.fill_uninitialized_memory = False
    try:
        yield
    finally:
        torch.utils.deterministic.fill_uninitialized_memory = previous
        torch.use_deterministic_algorithms(False)


def strategy(detector: NetworkDetector) -> str:
    """The Lightning strategy named in params; for detectors that call backward on part of the
    model (the GAN's separate D and G steps), its ``find_unused_parameters`` variant, without
    which DDP waits for gradients that never come."""
    name = detector.params.strategy
    variant = f"{name}_find_unused_parameters_true"
    return variant if detector.partial_backward and variant in StrategyRegistry else name


def _is_global_zero_env() -> bool:
    """Before the trainer exists: whether this process has global rank 0, the one that may
    clear the work dir. torchrun sets ``RANK``, srun ``SLURM_PROCID``, Lightning's own launcher
    ``LOCAL_RANK`` and ``NODE_RANK`` in the processes it starts; the launching process has none."""
    for variable in ("RANK", "SLURM_PROCID"):
        if variable in os.environ:
            return os.environ[variable] == "0"
    return os.environ.get("LOCAL_RANK", "0") == "0" and os.environ.get("NODE_RANK", "0") == "0"
