"""Cells: one detector under one named protocol and one seed, trained, scored, thresholded and
evaluated in one process (the report's protocols over seeds, `protocols/dvc.yaml`).

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

import numpy as np
import pandas as pd
import yaml

from fmnist_ad.atomic import atomic_dir, write_json, write_text
from fmnist_ad.errors import UserError
from fmnist_ad.evaluate import metrics
from fmnist_ad.params import Params, ParamsError, parse_params

#: headline keys averaged over seeds in the summary (besides every score's AUROC)
SUMMARY_KEYS = ("auroc", "auprc", "report_accuracy", "report_f1", "mcc_accuracy", "mcc_f1",
                "fpr_recall")


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
    from fmnist_ad.pipeline import score_table
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


def summarise(cells_dir: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """Means and spreads over seeds: ``{protocol: {detector: {key: {mean, std, min, max}}}}``.

    Flat enough for ``dvc metrics show`` (``sandal.vae.auroc.mean``); ``std`` is the sample
    standard deviation over the seeds, ``seeds`` how many there were.
    """
    files = sorted(Path(cells_dir).glob("*.json"))
    if not files:
        raise FileNotFoundError(f"{cells_dir}: no cell metrics; run `dvc repro protocols/dvc.yaml`")
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for path in files:
        protocol, detector, _seed = path.stem.rsplit("-", 2)
        groups.setdefault((protocol, detector), []).append(json.loads(path.read_text()))
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for (protocol, detector), runs in sorted(groups.items()):
        keys = [*SUMMARY_KEYS, *sorted(k for k in runs[0] if k.startswith("auroc_"))]
        entry: dict[str, Any] = {"seeds": len(runs), "labels_in_training": runs[0]["labels_in_training"]}
        for key in keys:
            values = np.array([r[key] for r in runs], dtype=np.float64)
            entry[key] = {"mean": round(float(values.mean()), 4),
                          "std": round(float(values.std(ddof=1)) if len(values) > 1 else 0.0, 4),
                          "min": round(float(values.min()), 4), "max": round(float(values.max()), 4)}
        entry["train_seconds"] = round(float(np.mean([r["train_seconds"] for r in runs])), 1)
        out.setdefault(protocol, {})[detector] = entry
    return out


def summary_markdown(summary: dict[str, dict[str, dict[str, Any]]], main_scores: dict[tuple[str, str], str]) -> str:
    rows = []
    for protocol, detectors in summary.items():
        for detector, e in detectors.items():
            def cell(key: str) -> str:
                return f"{e[key]['mean']:.3f} ± {e[key]['std']:.3f}"
            others = ", ".join(f"`{k.removeprefix('auroc_')}` {e[k]['mean']:.3f}"
                               for k in e if k.startswith("auroc_"))
            rows.append({"protocol": protocol, "detector": detector,
                         "main score": f"`{main_scores[(protocol, detector)]}`",
                         "training labels": "yes" if e["labels_in_training"] else "no",
                         "seeds": e["seeds"], "AUROC": cell("auroc"), "AUPRC": cell("auprc"),
                         "report rule acc / F1": f"{e['report_accuracy']['mean']:.3f} / {e['report_f1']['mean']:.3f}",
                         "MCC rule acc / F1": f"{e['mcc_accuracy']['mean']:.3f} / {e['mcc_f1']['mean']:.3f}",
                         "AUROC of every score": others,
                         "train s": f"{e['train_seconds']:.0f}"})
    frame = pd.DataFrame(rows)
    lines = [list(frame.columns), ["---"] * frame.shape[1], *frame.astype(str).to_numpy().tolist()]
    return ("# The report's protocols over seeds (test set)\n\n"
            + "\n".join("| " + " | ".join(r) + " |" for r in lines) + "\n\n"
            "Mean ± sample standard deviation over the seeds (each seed sets the splits and the "
            "detector's initialisation). AUROC/AUPRC from the continuous main score; threshold rules "
            "fitted on validation only. `training labels`: whether the main score uses the labels "
            "of training images (the AE's `kde_ratio`, `mse_gap`); the others are unsupervised.\n")


def write_summary(cells_dir: Path, out_json: Path, out_md: Path) -> None:
    summary = summarise(cells_dir)
    main_scores = {}
    for path in Path(cells_dir).glob("*.json"):
        protocol, detector, _seed = path.stem.rsplit("-", 2)
        main_scores[(protocol, detector)] = json.loads(path.read_text())["main_score"]
    write_json(out_json, summary)
    write_text(out_md, summary_markdown(summary, main_scores))
