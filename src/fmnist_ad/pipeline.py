"""What each DVC stage does, as functions of paths; `stages/*.py` only parse arguments.

Every function validates ``params.yaml`` first and writes its outputs atomically.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from fmnist_ad.allocator import keep_freed_memory
from fmnist_ad.atomic import atomic_dir, write_json
from fmnist_ad.detectors import detector_class
from fmnist_ad.download import fetch
from fmnist_ad.evaluate import confusion_rows, curves, metrics
from fmnist_ad.params import load_params
from fmnist_ad.prepare import Split, load_splits, prepare
from fmnist_ad.thresholds import fit_thresholds

log = logging.getLogger("fmnist_ad")

#: per-split count of example images kept for reconstruction grids (normal and anomalous each)
RECON_EXAMPLES = 8


def run_download(params_path: Path, out_dir: Path) -> None:
    params = load_params(params_path)
    origin = fetch(params.data, out_dir)
    log.info("FashionMNIST verified and written to %s (from %s)", out_dir, origin)


def run_prepare(params_path: Path, raw_dir: Path, out_dir: Path) -> None:
    params = load_params(params_path)
    splits = prepare(raw_dir, out_dir, params.protocol)
    for name, s in splits.items():
        log.info("%s: %d images (%d normal, %d anomalous)", name, len(s.index),
                 int((s.labels == 0).sum()), int(s.labels.sum()))


def _section(params_path: Path, model: str):
    params = load_params(params_path)
    return getattr(params, model)


#: set to 1 to continue an interrupted training from its last checkpoint (`FMNIST_AD_RESUME=1 dvc repro`)
RESUME_ENV = "FMNIST_AD_RESUME"


def run_train(params_path: Path, model: str, prepared: Path, model_dir: Path, log_dir: Path,
              info_path: Path, work_root: Path = Path("data/work"), resume: bool | None = None) -> None:
    """Train in ``work_root/model`` (checkpoints, curves: what a resume needs), then publish
    the weights, curves and run summary atomically from rank zero; the work folder is removed."""
    from fmnist_ad.training import fit

    detector = detector_class(model)(_section(params_path, model))
    splits = load_splits(prepared)
    if resume is None:
        resume = os.environ.get(RESUME_ENV, "") == "1"
    work = work_root / model
    info = fit(detector, splits, work, resume=resume)
    if not info.pop("is_global_zero"):
        return
    with atomic_dir(model_dir) as tmp:
        detector.save(tmp / "model.pt")
    with atomic_dir(log_dir) as tmp:
        shutil.copytree(work / "dvclive", tmp, dirs_exist_ok=True)
    write_json(info_path, {"model": model, **info})
    shutil.rmtree(work, ignore_errors=True)


def score_table(detector, split: Split) -> pd.DataFrame:
    scores = detector.score_samples(split.images)
    return pd.DataFrame({"index": split.index, "class": split.classes, "label": split.labels, **scores})


def _examples(split: Split, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    picks = [rng.choice(np.flatnonzero(split.labels == y), size=min(RECON_EXAMPLES, int((split.labels == y).sum())),
                        replace=False) for y in (0, 1)]
    return np.sort(np.concatenate(picks))


def run_score(params_path: Path, model: str, prepared: Path, model_dir: Path, out_dir: Path) -> None:
    section = _section(params_path, model)
    cls = detector_class(model)
    detector = cls.load(model_dir / "model.pt", section)
    splits = load_splits(prepared)
    with atomic_dir(out_dir) as tmp:
        for name in ("val", "test"):
            score_table(detector, splits[name]).to_csv(tmp / f"{name}.csv", index=False, float_format="%.9g")
        test = splits["test"]
        pick = _examples(test, section.seed)
        np.savez_compressed(tmp / "reconstructions.npz", images=test.images[pick], labels=test.labels[pick],
                            index=test.index[pick], reconstructions=detector.reconstruct(test.images[pick]))
        (tmp / "main_score.txt").write_text(detector.main_score + "\n")


def read_scores(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; run the `score` stage first")
    return pd.read_csv(path)


def run_threshold(params_path: Path, model: str, scores_dir: Path, out_path: Path) -> None:
    section = _section(params_path, model)
    val = read_scores(scores_dir / "val.csv")  # validation only: the test table is never read here
    write_json(out_path, {"model": model, **fit_thresholds(val, section.main_score, section.threshold)})


def run_evaluate(params_path: Path, model: str, scores_dir: Path, thresholds_path: Path,
                 metrics_path: Path, plots_dir: Path) -> None:
    load_params(params_path)
    thresholds = json.loads(Path(thresholds_path).read_text())
    test = read_scores(scores_dir / "test.csv")
    write_json(metrics_path, metrics(test, thresholds))
    with atomic_dir(plots_dir) as tmp:
        for name, frame in curves(test, thresholds["main_score"]).items():
            frame.to_csv(tmp / f"{name}.csv", index=False, float_format="%.6g")
        confusion_rows(test, thresholds["mcc"]).to_csv(tmp / "confusion.csv", index=False)


def main(fn: Callable[[], None]) -> None:
    """Run a stage; known bad input ends with a one-paragraph message and exit code 2."""
    from fmnist_ad.errors import USER_ERRORS

    keep_freed_memory()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        fn()
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
