"""Benchmark of the pipeline on this machine: `python measure/speed.py` (`--help` for options).

Measured in one run: training throughput of each detector under Lightning (the pipeline's own
:func:`~fmnist_ad.training.fit`) and under a bare PyTorch loop over the same model, loss, batch
size and in-memory tensors, so their ratio is the cost of the Lightning loop; scoring throughput
of the trained detectors; the torch KDE against scikit-learn's; peak memory of training and
scoring; and the wall time of every `dvc repro` stage in a temporary copy of the project.

Training runs in two fresh processes per detector. Each first runs one loop on its own (Lightning
in one, bare in the other) for that loop's peak memory (``ru_maxrss`` is the peak of a process's
whole life), then ``--rounds`` Lightning runs that alternate every epoch with a bare loop on a
second copy of the model: throughput on a shared CPU drifts by up to a third within seconds, more
than the overhead being measured, so the ratio is the median over pairs of adjacent epochs (with
its quartiles), not a ratio of separate runs. Scoring gets its own process.
Phases configure the allocator as the pipeline's stages do (:mod:`fmnist_ad.allocator`).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import lightning.pytorch as L
import numpy as np
import torch
import yaml
from lightning.pytorch.callbacks import Callback
from sklearn.neighbors import KernelDensity

from fmnist_ad.allocator import keep_freed_memory
from fmnist_ad.detectors import BASELINES, NETWORKS, detector_class
from fmnist_ad.detectors.network import NetworkDetector
from fmnist_ad.detectors.gan.module import GANModule
from fmnist_ad.detectors.gan.step import gan_step
from fmnist_ad.download import fetch, mirror_folders
from fmnist_ad.kde import GaussianKDE
from fmnist_ad.params import parse_params
from fmnist_ad.params.sections import TrainingParams
from fmnist_ad.prepare import Split, load_splits, prepare
from fmnist_ad.training import LossModule, fit

# the synthetic mirror and the throw-away project copy are the test suite's (tests/sandbox.py)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from sandbox import REPO, make_project, run, write_mirror  # noqa: E402

#: images per class of the synthetic mirror (train, test) and the protocol that fits its size
SYNTHETIC_PER_CLASS = (400, 100)
SYNTHETIC_PROTOCOL = {"val_size": 1000}


# --- data -------------------------------------------------------------------------------------
def repo_params() -> dict[str, Any]:
    return yaml.safe_load((REPO / "params.yaml").read_text())


def dataset_dir(raw: dict[str, Any]) -> Path | None:
    """The first mirror of params.yaml that exists ($FASHION_MNIST_DIR, the Debian package)."""
    return next((s.folder for s in mirror_folders(raw["data"]["mirrors"]) if s.folder.is_dir()), None)


def bench_params(data: str, root: Path, device: str) -> dict[str, Any]:
    """The repo's params, reading only the local dataset (or a synthetic mirror written under
    ``root``) and training on ``device``."""
    raw = repo_params()
    if data == "real":
        folder = dataset_dir(raw)
        if folder is None:
            raise SystemExit("error: no FashionMNIST mirror found ($FASHION_MNIST_DIR, "
                             "/usr/share/datasets/fashion-mnist); use --data synthetic")
        raw["data"].update(mirrors=[str(folder)], download=False)
    else:
        digests = write_mirror(root / "mirror", *SYNTHETIC_PER_CLASS)
        raw["data"].update(mirrors=[str(root / "mirror")], download=False, sha256=digests)
        raw["protocol"].update(SYNTHETIC_PROTOCOL)
    for name in NETWORKS:
        raw[name]["accelerator"] = device
    return raw


def prepare_splits(raw: dict[str, Any], root: Path) -> Path:
    """Run the download and prepare stages' logic in-process; returns the prepared folder."""
    params = parse_params(raw)
    fetch(params.data, root / "raw")
    prepare(root / "raw", root / "prepared", params.protocol)
    return root / "prepared"


def training_subset(splits: dict[str, Split], n: int | None, seed: int) -> dict[str, Split]:
    """At most ``n`` images in each training split (train, labeled), drawn with ``seed``."""
    rng = np.random.default_rng(seed)

    def cut(split: Split) -> Split:
        if n is None or len(split.index) <= n:
            return split
        return split.subset(np.sort(rng.choice(len(split.index), size=n, replace=False)))

    return {**splits, "train": cut(splits["train"]), "labeled": cut(splits["labeled"])}


# --- measuring --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Epoch:
    """Images trained on, seconds of training batches, seconds after the last batch (validation,
    checkpoints, logging) until the epoch ended."""

    images: int
    seconds: float
    after: float = 0.0

    @property
    def img_s(self) -> float:
        return self.images / self.seconds


def steady(epochs: list[Epoch]) -> list[Epoch]:
    """The epochs after the first, which pays for allocator growth, kernel selection and caches."""
    return epochs[1:] or epochs


def images_per_second(epochs: list[Epoch]) -> float:
    """Median of the epochs' rates: a shared CPU slows single epochs by up to a third at times,
    which a mean would pass on to whichever loop happened to run then."""
    return statistics.median(e.img_s for e in epochs)


def sync(device: torch.device) -> None:
    """Wait for queued GPU work, so wall clocks measure it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


@contextmanager
def peak_memory(device: torch.device) -> Iterator[dict[str, float | None]]:
    """Fills the yielded dict on exit: ``peak_mb`` (the process's peak RSS), ``added_mb`` (how far
    the block raised it) and ``cuda_mb`` (peak allocated GPU memory, None on CPU)."""
    out: dict[str, float | None] = {}
    before = _maxrss_mb()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    yield out
    peak = _maxrss_mb()
    out.update(peak_mb=peak, added_mb=peak - before,
               cuda_mb=torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None)


class EpochTimer(Callback):
    """Per epoch: images and wall time from the epoch's start to the end of its last training
    batch, and the time from there to the epoch's end (validation, checkpoints, logging)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.epochs: list[Epoch] = []
        self._start = self._last = 0.0
        self._images = 0

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        sync(self.device)
        self._start, self._images = time.perf_counter(), 0

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any,
                           batch: Any, batch_idx: int) -> None:
        self._images += len(batch[0])
        if batch_idx == trainer.num_training_batches - 1:
            sync(self.device)
        self._last = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        sync(self.device)
        self.epochs.append(Epoch(self._images, self._last - self._start, time.perf_counter() - self._last))


class PairedEpochTimer(EpochTimer):
    """:class:`EpochTimer` that runs and times one epoch of a bare loop (``twin``, on its own copy
    of the model) just before each Lightning epoch starts its clock, outside the timed batches.

    The two loops then alternate every epoch (a fraction of a second apart for the AE), so both
    see the same machine: on a shared CPU throughput drifts by +-30% over seconds, which
    alternating whole runs only averaged out. The twin runs without deterministic kernels, as
    the bare loop does on its own.
    """

    def __init__(self, device: torch.device, twin: Callable[[int], int]) -> None:
        super().__init__(device)
        self.twin = twin
        self.bare: list[Epoch] = []

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        deterministic = torch.are_deterministic_algorithms_enabled()
        torch.use_deterministic_algorithms(False)
        self.bare += timed_epochs([trainer.current_epoch], self.twin, self.device)
        torch.use_deterministic_algorithms(deterministic)
        super().on_train_epoch_start(trainer, pl_module)


# --- bare PyTorch loops -----------------------------------------------------------------------
def timed_epochs(epochs: Iterable[int], run_epoch: Callable[[int], int], device: torch.device) -> list[Epoch]:
    """``run_epoch(epoch)`` (which returns the images it trained on) for each of ``epochs``, timed."""
    out = []
    for epoch in epochs:
        start = time.perf_counter()
        images = run_epoch(epoch)
        sync(device)
        out.append(Epoch(images, time.perf_counter() - start))
    return out


def loss_loop(module: LossModule, x: torch.Tensor, batch_size: int, seed: int,
              device: torch.device) -> Callable[[int], int]:
    """AE/VAE epochs: seeded shuffle, then one Adam step per batch on the module's own loss function."""
    optimizer = module.configure_optimizers()

    def run(epoch: int) -> int:
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed + epoch))
        for batch in x[order].split(batch_size):
            loss = module.loss_fn(module.model, batch.to(device, non_blocking=True))["loss"]
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return len(x)

    return run


def gan_loop(module: GANModule, loader: torch.utils.data.DataLoader,
             device: torch.device) -> Callable[[int], int]:
    """GAN epochs: the pipeline's own loader and training step, without Lightning."""
    optimizers, schedulers = module.configure_optimizers()

    def run(epoch: int) -> int:
        loader.sampler.set_epoch(epoch)
        if module.augment_rng is not None:
            module.augment_rng.manual_seed(module.params.seed + epoch)
        for x, n_normal in loader:
            gan_step(module.model, module.params, x.to(device, non_blocking=True), n_normal, optimizers,
                     torch.Tensor.backward, module.augment_rng)
        for scheduler in schedulers:
            scheduler.step()
        return len(loader.dataset)

    return run


def bare_loop(detector: NetworkDetector, splits: dict[str, Split]) -> Callable[[int], int]:
    """One epoch of ``detector.model`` trained without Lightning, on the tensors of its own
    training loader, per call (``run(epoch)`` returns the images trained on)."""
    module = detector.lightning_module(splits)
    loader, _ = detector.loaders(splits)
    module.model.to(detector.device).train()
    torch.manual_seed(detector.params.seed)
    if isinstance(module, GANModule):
        return gan_loop(module, loader, detector.device)
    return loss_loop(module, loader.dataset.tensors[0], detector.params.batch_size, detector.params.seed,
                     detector.device)


# --- phases, each in a fresh process ----------------------------------------------------------
@dataclass(frozen=True)
class Job:
    """What a phase process needs: detector name and params, prepared data, the parent's threads."""

    name: str
    section: TrainingParams
    prepared: Path
    train_images: int | None
    threads: int
    epochs: int
    rounds: int

    def setup(self) -> dict[str, Split]:
        """Configure the process as a pipeline stage does; the training splits."""
        keep_freed_memory()
        torch.set_num_threads(self.threads)
        return training_subset(load_splits(self.prepared), self.train_images, self.section.seed)

    def detector(self) -> NetworkDetector:
        return detector_class(self.name)(self.section)


def lightning_epochs(job: Job, splits: dict[str, Split], work: Path, model_path: Path | None = None,
                     twin: Callable[[int], int] | None = None) -> EpochTimer:
    """Train with the pipeline's :func:`fit` (progress bar, checkpoints, DVCLive, early stopping),
    with a bare ``twin`` epoch before each epoch when given; the timer holds the epochs. Saves the
    detector for the scoring phase when ``model_path`` is given."""
    detector = job.detector()
    timer = EpochTimer(detector.device) if twin is None else PairedEpochTimer(detector.device, twin)
    fit(detector, splits, work, callbacks=[timer])
    if model_path is not None:
        detector.save(model_path)
    return timer


def paired_phase(job: Job, lightning_first: bool, work: Path, model_path: Path) -> dict[str, Any]:
    """One loop on its own, then ``job.rounds`` Lightning runs that each alternate every epoch
    with a bare loop on a second copy of the model (:class:`PairedEpochTimer`).

    The solo run gives the peak memory of its loop: ``ru_maxrss`` only grows, so only the first
    loop of a process has a peak of its own, and :func:`detector_rows` runs this phase once with
    each loop first. The Lightning-first process's solo run saves the model for scoring. The solo
    runs also take the process's warm-up (allocator growth, caches, kernel selection), which
    made first runs up to a third slower. Returns ``{"solo": epochs, "memory": ..., "lightning":
    [epochs of each paired run], "bare": [epochs of each twin]}``.
    """
    splits = job.setup()
    device = job.detector().device
    with peak_memory(device) as memory:
        if lightning_first:
            solo = lightning_epochs(job, splits, work, model_path).epochs
        else:
            solo = timed_epochs(range(job.epochs), bare_loop(job.detector(), splits), device)
    paired = [lightning_epochs(job, splits, work, twin=bare_loop(job.detector(), splits)) for _ in range(job.rounds)]
    return {"solo": solo, "memory": memory, "lightning": [timer.epochs for timer in paired],
            "bare": [timer.bare for timer in paired]}


def score_phase(job: Job, model_path: Path, repeats: int = 3) -> dict[str, Any]:
    """``score_samples`` on the test images, ``repeats`` times, each pass followed by one bare
    training epoch on a fresh copy of the model, so that scoring is compared with training in
    the same seconds of the same process (the target is scoring faster than an epoch, and either
    drifts by up to a third between processes). Peak memory and the first (untimed) pass come
    before any training. Seconds are medians, for the same reason as :func:`images_per_second`;
    ``score_per_bare_epoch`` is the median of the paired ratios."""
    splits = job.setup()
    detector = detector_class(job.name).load(model_path, job.section)
    images = splits["test"].images
    with peak_memory(detector.device) as memory:
        detector.score_samples(images)  # lazy initialisation, caches
    train_epoch = bare_loop(job.detector(), splits)
    timed_epochs([0], train_epoch, detector.device)  # warm-up
    times, epochs = [], []
    for epoch in range(1, repeats + 1):
        start = time.perf_counter()
        detector.score_samples(images)  # returns numpy arrays: GPU work has finished
        times.append(time.perf_counter() - start)
        epochs += timed_epochs([epoch], train_epoch, detector.device)
    seconds = statistics.median(times)
    return {"images": len(images), "seconds": seconds, "img_s": len(images) / seconds,
            "seconds_each": times, "bare_epoch_s_each": [e.seconds for e in epochs],
            "score_per_bare_epoch": statistics.median(t / e.seconds for t, e in zip(times, epochs)), **memory}


#: imported once by the server that phase processes fork from (not this module itself: a child
#: re-runs ``measure/speed.py`` as its main module, and runpy warns if it is already loaded)
PRELOAD = ["sklearn.neighbors", "dvclive.lightning", "fmnist_ad.training", "fmnist_ad.detectors.ae",
           "fmnist_ad.detectors.vae", "fmnist_ad.detectors.gan"]


def isolated(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """``fn(*args)`` in a new process. The processes fork from a server that imported torch and
    Lightning once, which saves seconds per phase and shares no state with this process."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(fn, *args).result()


# --- rows -------------------------------------------------------------------------------------
def throughput_section(raw: dict[str, Any], name: str, epochs: int) -> TrainingParams:
    """The detector's params trained for exactly ``epochs`` (patience that long cannot stop it)."""
    section = getattr(parse_params(raw), name)
    update = {"epochs": epochs} if name == "gan" else {"epochs": epochs, "patience": epochs}
    return section.model_copy(update=update)


def detector_rows(name: str, raw: dict[str, Any], prepared: Path, root: Path,
                  args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any], Path]:
    """The training and the scoring row of one detector, and where its trained model is."""
    job = Job(name, throughput_section(raw, name, args.epochs), prepared, args.train_images,
              torch.get_num_threads(), args.epochs, args.rounds)
    model_path = root / "models" / f"{name}.pt"
    first = isolated(paired_phase, job, True, root / "work" / name, model_path)
    second = isolated(paired_phase, job, False, root / "work" / name, model_path)
    score = isolated(score_phase, job, model_path)
    light = [e for phase in (first, second) for run in phase["lightning"] for e in steady(run)]
    bare = [e for phase in (first, second) for run in phase["bare"] for e in steady(run)]
    # each Lightning epoch against the bare epoch just before it
    pairs = [mine.img_s / twin.img_s for phase in (first, second)
             for run, twins in zip(phase["lightning"], phase["bare"]) for mine, twin in zip(steady(run), steady(twins))]
    quartiles = statistics.quantiles(pairs, n=4) if len(pairs) > 1 else pairs * 3
    train = {
        "section": "train", "detector": name,
        "images_per_epoch": light[0].images,
        "lightning_img_s": images_per_second(light),
        "bare_img_s": images_per_second(bare),
        "ratio": statistics.median(pairs),
        "ratio_quartiles": [quartiles[0], quartiles[2]],
        "pairs": len(pairs),
        "after_batches_s": sum(e.after for e in light) / len(light),
        **{f"lightning_{k}": first["memory"][k] for k in ("peak_mb", "added_mb", "cuda_mb")},
        **{f"bare_{k}": second["memory"][k] for k in ("peak_mb", "added_mb", "cuda_mb")},
    }
    # every epoch's rate, per process and run, so the spread behind the medians stays visible
    train["epochs_img_s"] = {f"{kind}_{order}": [[round(e.img_s) for e in run] for run in phase[kind]]
                             for order, phase in (("first_process", first), ("second_process", second))
                             for kind in ("lightning", "bare")}
    train["solo_epochs_img_s"] = {"lightning": [round(e.img_s) for e in first["solo"]],
                                  "bare": [round(e.img_s) for e in second["solo"]]}
    score["epoch_s"] = train["images_per_epoch"] / train["lightning_img_s"]
    # a Lightning epoch takes bare epoch / ratio: both factors measured in pairs
    score["score_per_epoch"] = score["score_per_bare_epoch"] * train["ratio"]
    return train, {"section": "score", "detector": name, **score}, model_path


def direct_log_density(points: torch.Tensor, queries: torch.Tensor, bandwidth: float) -> torch.Tensor:
    """Gaussian KDE log densities from direct differences (``cdist`` without its matrix-product
    shortcut): a reference free of both GaussianKDE's expansion and scikit-learn's tree bounds."""
    n, d = points.shape
    norm = math.log(n) + 0.5 * d * math.log(2 * math.pi * bandwidth**2)

    def log_kernel_sum(q: torch.Tensor) -> torch.Tensor:
        d2 = torch.cdist(q, points, compute_mode="donot_use_mm_for_euclid_dist").pow(2)
        return torch.logsumexp(-d2 / (2 * bandwidth**2), dim=1)

    return torch.cat([log_kernel_sum(q) for q in queries.split(256)]) - norm


def kde_rows(raw: dict[str, Any], prepared: Path, model_path: Path) -> list[dict[str, Any]]:
    """scikit-learn's ``KernelDensity`` against :class:`GaussianKDE` in float32 (the default)
    and float64 on the trained AE's codes (its normal training codes as reference, the test
    images' codes as queries, on the CPU), all against direct sums, which say who is right where
    they differ."""
    detector = detector_class("ae").load(model_path, parse_params(raw).ae)
    codes = detector.encode(load_splits(prepared)["test"].images).double()
    points, bandwidth = detector.kde.points, detector.kde.bandwidth
    sklearn_kde = KernelDensity(bandwidth=bandwidth).fit(points.numpy())
    start = time.perf_counter()
    theirs = sklearn_kde.score_samples(codes.numpy())
    sklearn_s = time.perf_counter() - start
    direct = direct_log_density(points, codes, bandwidth).numpy()
    rows = []
    for precision in ("float32", "float64"):
        kde = GaussianKDE(dtype=getattr(torch, precision)).restore(points, bandwidth)
        start = time.perf_counter()
        ours = kde.log_density(codes).numpy()
        torch_s = time.perf_counter() - start
        rows.append({"section": "kde", "precision": precision, "reference": len(points), "queries": len(codes),
                     "dim": codes.shape[1], "bandwidth": bandwidth, "sklearn_s": sklearn_s, "torch_s": torch_s,
                     "speedup": sklearn_s / torch_s, "max_abs_diff": float(np.abs(ours - theirs).max()),
                     "torch_direct_diff": float(np.abs(ours - direct).max()),
                     "sklearn_direct_diff": float(np.abs(theirs - direct).max())})
    return rows


# --- dvc repro --------------------------------------------------------------------------------
def pipeline_stages() -> list[str]:
    """The stages of dvc.yaml in an order that respects its DAG."""
    per_model = [f"{stage}@{name}" for name in (*NETWORKS, *BASELINES)
                 for stage in ("train" if name in NETWORKS else "fit", "score", "threshold", "evaluate")]
    return ["download", "prepare", *per_model, "compare"]


def pipeline_params(raw: dict[str, Any], epochs: int | None) -> dict[str, Any]:
    """``raw`` with every detector trained for ``epochs`` (None: as params.yaml says)."""
    raw = json.loads(json.dumps(raw))
    if epochs is not None:
        raw["ae"]["epochs"] = raw["vae"]["epochs"] = raw["gan"]["epochs"] = epochs
    return raw


def pipeline_rows(raw: dict[str, Any], epochs: int | None, root: Path,
                  keep_metrics: Path | None = None) -> list[dict[str, Any]]:
    """Wall time of `dvc repro STAGE` for each stage in DAG order, then of a `dvc repro` with
    nothing left to do (DVC's own fixed cost). ``keep_metrics``: where to copy the timed run's
    ``metrics/`` folder and ``dvc.lock`` (the sandbox project is deleted afterwards)."""
    project = make_project(root / "project", pipeline_params(raw, epochs))
    rows = []
    for stage in [*pipeline_stages(), None]:
        start = time.perf_counter()
        out = run([sys.executable, "-m", "dvc", "repro", *([stage] if stage else [])], project).stdout
        rows.append({"section": "pipeline", "stage": stage or "dvc repro (nothing to do)",
                     "seconds": time.perf_counter() - start, "ran": "Running stage" in out})
    if keep_metrics is not None:
        shutil.copytree(project / "metrics", keep_metrics, dirs_exist_ok=True)
        shutil.copy(project / "dvc.lock", keep_metrics / "dvc.lock")
    stages = rows[:-1]
    rows.insert(-1, {"section": "pipeline", "stage": "all stages", "seconds": sum(r["seconds"] for r in stages),
                     "ran": all(r["ran"] for r in stages)})
    return rows


# --- report -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Column:
    key: str
    header: str
    fmt: str = "{}"

    def cell(self, value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, bool):
            return "yes" if value else "no"
        return self.fmt.format(value)


MB = "{:,.0f}"
SECTIONS: list[tuple[str, str, list[Column], str]] = [
    ("train", "Training throughput (median of steady-state epochs; Lightning = the pipeline's fit(), "
              "bare = plain PyTorch loop)", [
        Column("detector", "detector"), Column("images_per_epoch", "img/epoch", "{:,}"),
        Column("lightning_img_s", "lightning img/s", "{:,.0f}"), Column("bare_img_s", "bare img/s", "{:,.0f}"),
        Column("ratio", "lightning/bare", "{:.2f}"), Column("ratio_quartiles", "quartiles", "{0[0]:.2f}-{0[1]:.2f}"),
        Column("pairs", "pairs"), Column("after_batches_s", "val+ckpt s/epoch", "{:.2f}"),
        Column("lightning_peak_mb", "L peak MB", MB), Column("lightning_added_mb", "L +MB", MB),
        Column("bare_peak_mb", "bare peak MB", MB), Column("bare_added_mb", "bare +MB", MB),
        Column("lightning_cuda_mb", "L cuda MB", MB), Column("bare_cuda_mb", "bare cuda MB", MB),
    ], "lightning/bare: median over pairs of adjacent epochs (a bare epoch, then a Lightning one) of their "
       "img/s ratio; quartiles of those ratios; img/s columns: medians over all paired epochs. "
       "val+ckpt: after the last training batch (validation, checkpoints, logging), not in img/s. "
       "peak: RSS peak of the phase's process, each loop running first in its own; +MB: its rise during that run."),
    ("score", "Scoring throughput (detector.score_samples on the test images, AE incl. KDE)", [
        Column("detector", "detector"), Column("images", "images", "{:,}"), Column("seconds", "seconds", "{:.2f}"),
        Column("img_s", "img/s", "{:,.0f}"), Column("epoch_s", "1 epoch s", "{:.2f}"),
        Column("score_per_epoch", "score/epoch", "{:.2f}"), Column("peak_mb", "peak MB", MB),
        Column("added_mb", "+MB", MB), Column("cuda_mb", "cuda MB", MB),
    ], "1 epoch: the training batches of one Lightning epoch (img/epoch / lightning img/s above). score/epoch: "
       "each timed pass is followed by one bare training epoch in the same process; the median of those "
       "ratios times lightning/bare above (a Lightning epoch lasts a bare one / that ratio). < 1 means "
       "scoring the test images is faster than training one epoch."),
    ("kde", "KDE on the AE's codes (CPU): scikit-learn KernelDensity vs fmnist_ad.kde.GaussianKDE", [
        Column("precision", "torch dtype"), Column("reference", "reference codes", "{:,}"),
        Column("queries", "queries", "{:,}"), Column("dim", "dim"),
        Column("bandwidth", "bandwidth", "{:.4g}"), Column("sklearn_s", "sklearn s", "{:.3f}"),
        Column("torch_s", "torch s", "{:.3f}"), Column("speedup", "sklearn/torch", "{:.1f}"),
        Column("max_abs_diff", "max |torch-sklearn|", "{:.2e}"),
        Column("torch_direct_diff", "max |torch-direct|", "{:.2e}"),
        Column("sklearn_direct_diff", "max |sklearn-direct|", "{:.2e}"),
    ], "max |a-b|: largest difference of log densities over the queries; direct: exact sums over "
       "all reference codes. sklearn's time excludes building its tree; the pipeline uses "
       "ae.kde_precision (float32 unless set)."),
    ("pipeline", "dvc repro, one stage at a time (wall time incl. DVC's own start-up)", [
        Column("stage", "stage"), Column("seconds", "seconds", "{:.1f}"), Column("ran", "ran"),
    ], ""),
]


def table(rows: list[dict[str, Any]], columns: list[Column]) -> str:
    """Aligned plain-text columns (text left, numbers right); columns empty in every row are dropped."""
    columns = [c for c in columns if any(r.get(c.key) is not None for r in rows)]
    cells = [[c.header for c in columns]] + [[c.cell(r.get(c.key)) for c in columns] for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    lines = ["  ".join(text.ljust(w) if i == 0 else text.rjust(w) for i, (text, w) in enumerate(zip(line, widths)))
             for line in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render(header: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    lines = [f"{key}: {value}" for key, value in header.items()]
    for section, title, columns, note in SECTIONS:
        chosen = [r for r in rows if r["section"] == section]
        if chosen:
            lines += ["", title, table(chosen, columns)] + ([note] if note else [])
    return "\n".join(lines)


def device_name(device: str) -> str:
    if device == "cuda":
        return f"cuda ({torch.cuda.get_device_name(0)})"
    cpuinfo = Path("/proc/cpuinfo")
    models = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
              if line.startswith("model name")] if cpuinfo.is_file() else []
    return f"cpu ({models[0] if models else platform.processor() or platform.machine()})"


def pipeline_epochs_text(args: argparse.Namespace) -> str:
    if args.skip_pipeline:
        return "skipped"
    return "as params.yaml" if args.full else f"{args.pipeline_epochs} per detector"


def header(args: argparse.Namespace, device: str, prepared: Path) -> dict[str, Any]:
    splits = load_splits(prepared)
    return {
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
        "device": device_name(device),
        "torch threads": torch.get_num_threads(),
        "cpu count": os.cpu_count(),
        "torch": torch.__version__,
        "lightning": L.__version__,
        "python": platform.python_version(),
        "data": f"{args.data} ({', '.join(f'{n} {len(s.index):,}' for n, s in splits.items())})",
        "epochs": f"{args.epochs} per throughput run, the first is warm-up; {args.rounds} paired runs "
                  f"per training process; dvc repro: " + pipeline_epochs_text(args),
    }


# --- command line -----------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    default_data = "real" if dataset_dir(repo_params()) else "synthetic"
    ap = argparse.ArgumentParser(prog="python measure/speed.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", choices=("real", "synthetic"), default=default_data,
                    help=f"the installed FashionMNIST or a small synthetic mirror (default here: {default_data})")
    ap.add_argument("--train-images", type=int, metavar="N",
                    help="subsample each training split to N images for the throughput runs (default: all)")
    ap.add_argument("--epochs", type=int, default=3, metavar="E",
                    help="epochs per throughput run; the first is warm-up and not counted (default: 3)")
    ap.add_argument("--rounds", type=int, default=2, metavar="R",
                    help="Lightning runs paired epoch by epoch with a bare loop, in each of the two "
                         "training processes per detector (default: 2)")
    ap.add_argument("--pipeline-epochs", type=int, default=2, metavar="E",
                    help="ae.epochs, vae.epochs and gan.epochs for the dvc repro timing (default: 2)")
    ap.add_argument("--full", action="store_true", help="time dvc repro with params.yaml's epochs")
    ap.add_argument("--skip-pipeline", action="store_true", help="do not time dvc repro")
    ap.add_argument("--skip-throughput", action="store_true",
                    help="only time dvc repro (no training, scoring or KDE rows)")
    ap.add_argument("--keep-metrics", type=Path, metavar="DIR",
                    help="copy the timed dvc repro's metrics/ and dvc.lock to DIR")
    ap.add_argument("--detectors", nargs="+", choices=NETWORKS, default=list(NETWORKS), metavar="NAME",
                    help=f"detectors for the throughput rows (default: all of {', '.join(NETWORKS)}); "
                         "the KDE row comes with ae")
    ap.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    ap.add_argument("--json", type=Path, metavar="PATH", help="also write the header and rows as JSON")
    args = ap.parse_args(argv)
    if args.skip_pipeline and (args.skip_throughput or args.keep_metrics):
        ap.error("--skip-pipeline leaves nothing to run with --skip-throughput or to keep with --keep-metrics")
    if args.epochs < 2:
        ap.error("--epochs must be at least 2 (the first is warm-up)")
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    if args.train_images is not None and args.train_images < 1:
        ap.error("--train-images must be positive")
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: no CUDA device available")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print its tables; returns what ``--json`` writes."""
    args = parse_args(argv)
    device = "cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()) else "cpu"
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="fmnist-speed-") as tmp:
        root = Path(tmp)
        raw = bench_params(args.data, root, device)
        prepared = prepare_splits(raw, root)
        if not args.skip_throughput:
            scores, models = [], {}
            for name in dict.fromkeys(args.detectors):  # in the order given, once each
                train, score, models[name] = detector_rows(name, raw, prepared, root, args)
                rows.append(train)
                scores.append(score)
            rows += scores
            if "ae" in models:
                rows += kde_rows(raw, prepared, models["ae"])
        if not args.skip_pipeline:
            rows += pipeline_rows(raw, None if args.full else args.pipeline_epochs, root, args.keep_metrics)
        result = {"header": header(args, device, prepared), "rows": rows}
    print(render(result["header"], rows))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
