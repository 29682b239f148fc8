"""Cells: one detector under one named protocol and one seed, trained, scored, thresholded and
evaluated in one process (the report's protocols over seeds, `protocols/dvc.yaml`); their
summary over seeds is :mod:`fmnist_ad.cells_summary`.

A protocol is a set of overrides of ``params.yaml``, one file per protocol
(``protocols/presets/NAME.yaml``, a file dependency of its cells, so ``dvc exp show`` does not
list every preset's keys as params columns); a cell's seed
replaces both ``protocol.seed`` (the splits) and the detector's ``seed`` (its initial weights and
batch order), so seeds vary the whole run. The data are read once and stay in memory; the cell
writes its manifest and score tables (to audit and recompute its metrics) and its metrics, and
the summary turns the cells into means and spreads over seeds.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from fmnist_ad.atomic import atomic_dir, write_json
from fmnist_ad.errors import UserError
from fmnist_ad.evaluate import metrics
from fmnist_ad.params import Params, ParamsError, parse_params


class PresetError(UserError, ValueError):
    """A protocol name or a presets file is unknown or malformed."""


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` merged in, nested mappings key by key (lists are replaced)."""
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def cell_params(params_path: Path, presets_dir: Path, protocol: str, detector: str, seed: int) -> Params:
    """``params.yaml`` with the protocol's overrides (``presets_dir/PROTOCOL.yaml``) and the
    cell's seed, validated."""
    preset_path = Path(presets_dir) / f"{protocol}.yaml"
    if not preset_path.is_file():
        known = sorted(p.stem for p in Path(presets_dir).glob("*.yaml"))
        raise PresetError(f"{preset_path}: unknown protocol {protocol!r}; known: {known}")
    overrides = yaml.safe_load(preset_path.read_text()) or {}
    if not isinstance(overrides, dict):
        raise PresetError(f"{preset_path}: not a mapping of params.yaml sections to overrides")
    raw = yaml.safe_load(Path(params_path).read_text())
    merged = merge(raw, overrides)
    if detector not in merged or not isinstance(merged[detector], dict):
        raise ParamsError(f"unknown detector {detector!r}: params.yaml has no such section")
    merged = merge(merged, {"protocol": {"seed": seed}, detector: {"seed": seed}})
    return parse_params(merged, f"{params_path} + {preset_path} (seed {seed})")


def run_cell(params: Params, detector_name: str, raw_dir: Path, out_dir: Path, metrics_path: Path,
             work_root: Path = Path("data/work")) -> dict[str, Any]:
    """Train and evaluate one cell; write ``out_dir`` (manifest, val/test score tables) and the
    metrics JSON. Thresholds are fitted on the validation table only."""
    from fmnist_ad.detectors import detector_class
    from fmnist_ad.idx import read_split
    from fmnist_ad.pipeline.score import score_table
    from fmnist_ad.prepare import build_splits, manifest
    from fmnist_ad.thresholds import fit_thresholds

    section = getattr(params, detector_name)
    detector = detector_class(detector_name)(section)
    train_images, train_classes = read_split(raw_dir, "train")
    test_images, test_classes = read_split(raw_dir, "t10k")
    splits = build_splits(train_images, train_classes, test_images, test_classes, params.protocol)
    work = work_root / f"cell-{out_dir.name}"
    info = detector.fit(splits, work)
    info.pop("is_global_zero")
    tables = {name: score_table(detector, splits[name]) for name in ("val", "test")}
    thresholds = fit_thresholds(tables["val"], section.main_score, section.threshold)
    result = {"detector": detector_name, "main_score": section.main_score,
              "labels_in_training": int(detector.uses_training_labels(section.main_score)),
              "unseen_classes": params.protocol.unseen_classes,
              **metrics(tables["test"], thresholds, params.protocol.unseen_classes),
              **{k: info[k] for k in ("epochs", "best_epoch", "train_seconds", "train_images")}}
    with atomic_dir(out_dir) as tmp:
        (tmp / "manifest.json").write_text(json.dumps(manifest(splits, params.protocol)) + "\n")
        for name, table in tables.items():
            table.to_csv(tmp / f"{name}.csv", index=False, float_format="%.9g")
        (tmp / "thresholds.json").write_text(json.dumps(thresholds, indent=1) + "\n")
    write_json(metrics_path, result)
    shutil.rmtree(work, ignore_errors=True)
    return result
