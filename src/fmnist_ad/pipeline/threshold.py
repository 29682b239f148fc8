"""Stage `threshold@M`: the threshold rules, fitted on the validation score table only."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from fmnist_ad.atomic import write_json
from fmnist_ad.errors import MissingInputError
from fmnist_ad.params import load_params
from fmnist_ad.thresholds import fit_thresholds


def read_scores(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise MissingInputError(f"{path}: missing; run the `score` stage first")
    return pd.read_csv(path)


def run_threshold(params_path: Path, name: str, scores_dir: Path, out_path: Path) -> None:
    section = getattr(load_params(params_path), name)
    val = read_scores(scores_dir / "val.csv")  # validation only: the test table is never read here
    scored_by = scores_dir / "model.json"
    if not scored_by.is_file():
        raise MissingInputError(f"{scored_by}: missing; run the `score` stage first")
    checkpoint = json.loads(scored_by.read_text())["checkpoint_sha256"]
    write_json(out_path, {"model": name, "checkpoint_sha256": checkpoint,
                          **fit_thresholds(val, section.main_score, section.threshold)})
