"""Stages `train@M` (the networks) and `fit@M` (the baselines)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from fmnist_ad.atomic import atomic_dir, write_json
from fmnist_ad.detectors import BASELINES, detector_class
from fmnist_ad.errors import UserError
from fmnist_ad.params import load_params
from fmnist_ad.prepare import load_splits

#: set to 1 to continue an interrupted training from its last checkpoint (`FMNIST_AD_RESUME=1 dvc repro`)
RESUME_ENV = "FMNIST_AD_RESUME"


def run_train(params_path: Path, name: str, prepared: Path, model_dir: Path, info_path: Path,
              curves_dir: Path | None = None, work_root: Path = Path("data/work"),
              resume: bool | None = None) -> None:
    """Fit in ``work_root/name`` (a network's checkpoints and curves: what a resume needs),
    then publish the detector, its DVCLive curves (networks: ``curves_dir``) and the run's
    record atomically from rank zero; the work folder is removed."""
    if curves_dir is not None and name in BASELINES:
        raise UserError(f"{name} is a baseline, fitted in one call without training curves; drop --curves")
    detector = detector_class(name)(getattr(load_params(params_path), name))
    splits = load_splits(prepared)
    if resume is None:
        resume = os.environ.get(RESUME_ENV, "") == "1"
    work = work_root / name
    info = detector.fit(splits, work, resume=resume)
    if not info.pop("is_global_zero"):
        return
    with atomic_dir(model_dir) as tmp:
        detector.save(tmp / "model.pt")
    if curves_dir is not None:
        with atomic_dir(curves_dir) as tmp:
            shutil.copytree(work / "dvclive", tmp, dirs_exist_ok=True)
    write_json(info_path, {"model": name, **info})
    shutil.rmtree(work, ignore_errors=True)
