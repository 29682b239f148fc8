"""Stage `train@M`."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from fmnist_ad.atomic import atomic_dir, write_json
from fmnist_ad.detectors import detector_class
from fmnist_ad.params import load_params
from fmnist_ad.prepare import load_splits

#: set to 1 to continue an interrupted training from its last checkpoint (`FMNIST_AD_RESUME=1 dvc repro`)
RESUME_ENV = "FMNIST_AD_RESUME"


def run_train(params_path: Path, model: str, prepared: Path, model_dir: Path, log_dir: Path,
              info_path: Path, work_root: Path = Path("data/work"), resume: bool | None = None) -> None:
    """Train in ``work_root/model`` (checkpoints, curves: what a resume needs), then publish
    the weights, curves and run summary atomically from rank zero; the work folder is removed."""
    from fmnist_ad.training import fit

    detector = detector_class(model)(getattr(load_params(params_path), model))
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
