"""Cells: one detector under one named protocol and one seed, trained, scored, thresholded and
evaluated in one process (the report's protocols over seeds, `protocols/dvc.yaml`); their
summary over seeds is :mod:`fmnist_ad.cells_summary`.

A protocol is a set of overrides of ``params.yaml`` (``protocols/presets.yaml``); a cell's seed
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


def cell_params(params_path: Path, presets_path: Path, protocol: str, detector: str, seed: int) -> Params:
    """``params.yaml`` with the protocol's overrides and the cell's seed, validated."""
    presets = yaml.safe_load(Path(presets_path).read_text()) if Path(presets_path).is_file() else None
    if not isinstance(presets, dict):
        raise PresetError(f"{presets_path}: missing or not a mapping of protocol names to overrides")
    if protocol not in presets:
        raise PresetError(f"{presets_path}: unknown protocol {protocol!r}; known: {sorted(presets)}")
    raw = yaml.safe_load(Path(params_path).read_text())
    merged = merge(raw, presets[protocol] or {})
    if detector not in merged or not isinstance(merged[detector], dict):
        raise ParamsError(f"unknown detector {detector!r}: params.yaml has no such section")
    merged = merge(merged, {"protocol": {"seed": seed}, detector: {"seed": seed}})
    return parse_params(merged, f"{params_path} + {presets_path}:{protocol} (seed {seed})")


def run_cell(params: Params, detector_name: str, raw_dir: Path, out_dir: Path, metrics_path: Path,
             work_root: Path = Path("data/work")) -> dict[str, Any]:
    """Train and evaluate one cell; write ``out_dir`` (manifest, val/test score tables) and the
    metrics JSON. Thresholds are fitted on the validation table only."""
    from fmnist_ad.detectors import detector_class
    from fmnist_ad.idx import read_split
    from fmnist_ad.pipeline.score import score_table
    from fmnist_ad.prepare import build_splits, manifest
    from fmnist_ad.thresholds import fit_thresholds
    from fmnist_ad.training import fit

    section = getattr(params, detector_name)
    detector = detector_class(detector_name)(section)
    train_images, train_classes = read_split(raw_dir, "train")
    test_images, test_classes = read_split(raw_dir, "t10k")
    splits = build_splits(train_images, train_classes, test_images, test_classes, params.protocol)
    work = work_root / f"cell-{out_dir.name}"
    info = fit(detector, splits, work)
    info.pop("is_global_zero")
    tables = {name: score_table(detector, splits[name]) for name in ("val", "test")}
    thresholds = fit_thresholds(tables["val"], section.main_score, section.threshold)
    result = {"detector": detector_name, "main_score": section.main_score,
              "labels_in_training": int(detector.uses_training_labels(section.main_score)),
              **metrics(tables["test"], thresholds),
              **{k: info[k] for k in ("epochs", "best_epoch", "train_seconds", "train_images")}}
    with atomic_dir(out_dir) as tmp:
        (tmp / "manifest.json").write_text(json.dumps(manifest(splits, params.protocol)) + "\n")
        for name, table in tables.items():
            table.to_csv(tmp / f"{name}.csv", index=False, float_format="%.9g")
        (tmp / "thresholds.json").write_text(json.dumps(thresholds, indent=1) + "\n")
    write_json(metrics_path, result)
    shutil.rmtree(work, ignore_errors=True)
    return result
