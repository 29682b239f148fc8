"""Cells (one detector, one named protocol, one seed) and their summary over seeds, on the
synthetic mirror."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import roc_auc_score

from conftest import small_params
from fmnist_ad.cells import PresetError, cell_params, merge, run_cell
from fmnist_ad.cells_summary import summarise, write_summary
from fmnist_ad.detectors import DETECTORS
from fmnist_ad.download import fetch
from fmnist_ad.params import parse_params
from sandbox import REPO

PRESETS = REPO / "protocols" / "presets"


def test_merge_is_nested_and_replaces_lists() -> None:
    base = {"a": {"x": 1, "y": [1, 2]}, "b": 2}
    assert merge(base, {"a": {"y": [3]}, "c": 4}) == {"a": {"x": 1, "y": [3]}, "b": 2, "c": 4}
    assert base["a"]["y"] == [1, 2]


@pytest.fixture(scope="module")
def params_file(mirror, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder, digests = mirror
    path = tmp_path_factory.mktemp("cell") / "params.yaml"
    path.write_text(yaml.safe_dump(small_params(folder, digests)))
    return path


def test_preset_and_seed_override_params(params_file: Path) -> None:
    p = cell_params(params_file, PRESETS, "sandal_contaminated", "ae", 7)
    assert p.protocol.anomaly_classes == [5] and p.protocol.train_contamination == 0.1
    assert p.protocol.seed == 7 and p.ae.seed == 7 and p.vae.seed != 7
    assert p.ae.main_score == "kde_ratio" and p.ae.batch_size == 16   # the rest from params.yaml
    with pytest.raises(PresetError, match="unknown protocol 'nope'"):
        cell_params(params_file, PRESETS, "nope", "ae", 1)


def test_cell_metrics_come_from_its_score_table(params_file: Path, tmp_path: Path) -> None:
    params = cell_params(params_file, PRESETS, "sandal_contaminated", "ae", 42)
    raw = tmp_path / "raw"
    fetch(params.data, raw)
    out, metrics_path = tmp_path / "cell", tmp_path / "m" / "sandal_contaminated-ae-42.json"
    result = run_cell(params, "ae", raw, out, metrics_path, work_root=tmp_path / "work")
    assert json.loads(metrics_path.read_text()) == result
    assert result["main_score"] == "kde_ratio" and result["labels_in_training"] == 1
    test = pd.read_csv(out / "test.csv")
    assert result["auroc"] == pytest.approx(roc_auc_score(test["label"], test["kde_ratio"]))
    assert set(test["class"]) == set(range(10))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["splits"]["train"]["anomaly"] > 0           # the contaminated training split
    assert not (tmp_path / "work").exists() or not any((tmp_path / "work").iterdir())


def test_unseen_cell_reports_the_unseen_classes_apart(params_file: Path, tmp_path: Path) -> None:
    """tshirt_unseen_one: labeled and validation anomalies are trousers only; ``unseen_*`` metrics
    are those of the score table restricted to the normals and the eight other classes."""
    params = cell_params(params_file, PRESETS, "tshirt_unseen_one", "gbt", 42)
    params = params.model_copy(update={"protocol": params.protocol.model_copy(update={"labeled_anomalies": 20})})
    raw = tmp_path / "raw"
    fetch(params.data, raw)
    out = tmp_path / "cell"
    result = run_cell(params, "gbt", raw, out, tmp_path / "m.json", work_root=tmp_path / "work")
    assert result["unseen_classes"] == list(range(2, 10)) and result["labels_in_training"] == 1
    test = pd.read_csv(out / "test.csv")
    unseen = test[(test["label"] == 0) | test["class"].isin(range(2, 10))]
    assert result["unseen_auroc"] == pytest.approx(roc_auc_score(unseen["label"], unseen["log_odds"]))
    assert result["auroc"] == pytest.approx(roc_auc_score(test["label"], test["log_odds"]))
    assert result["unseen_test_anomaly"] == int((unseen["label"] == 1).sum()) < result["test_anomaly"]
    splits = json.loads((out / "manifest.json").read_text())["splits"]
    assert set(splits["labeled"]["per_class"]) == {"1"} and set(splits["val"]["per_class"]) == {"0", "1"}
    val = pd.read_csv(out / "val.csv")
    assert set(val["class"]) == {0, 1}                       # thresholds never saw an unseen class


def _cell(auroc: float) -> dict:
    keys = ("auprc", "report_accuracy", "report_f1", "mcc_accuracy", "mcc_f1", "fpr_recall")
    return {"main_score": "bce", "labels_in_training": 0, "auroc": auroc, "auroc_bce": auroc,
            "train_seconds": 10.0, **{k: 0.5 for k in keys}}


def test_summary_means_and_spreads_over_seeds(tmp_path: Path) -> None:
    cells = tmp_path / "cells"
    cells.mkdir()
    for seed, auroc in ((1, 0.8), (7, 0.9), (42, 1.0)):
        (cells / f"sandal-vae-{seed}.json").write_text(json.dumps(_cell(auroc)))
    s = summarise(cells)["sandal"]["vae"]
    assert s["seeds"] == 3 and s["auroc"]["mean"] == pytest.approx(0.9)
    assert s["auroc"]["std"] == pytest.approx(float(np.std([0.8, 0.9, 1.0], ddof=1)), abs=1e-4)
    assert s["auroc"]["min"] == 0.8 and s["auroc_bce"]["max"] == 1.0
    (cells / "ablation_full-gan-42.json").write_text(json.dumps({**_cell(0.95), "main_score": "l1", "auroc_l1": 0.95}))
    (cells / "ablation_no_rec-gan-42.json").write_text(json.dumps({**_cell(0.90), "main_score": "l1", "auroc_l1": 0.90}))
    write_summary(cells, tmp_path / "p.json", tmp_path / "p.md", tmp_path / "a.png")
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp_path / "p.json").read_text())["sandal"]["vae"] == {
        "auroc": {"mean": 0.9, "std": s["auroc"]["std"]}}
    assert "| sandal | vae | detector | `bce` | no | 3 | 0.900 ± 0.100" in (tmp_path / "p.md").read_text()
    with pytest.raises(FileNotFoundError, match="no cell metrics"):
        summarise(tmp_path / "empty")


def test_summary_tables_round_once(tmp_path: Path) -> None:
    """A mean of 0.98347 is 0.983, not 0.984 by way of 0.9835."""
    cells = tmp_path / "cells"
    cells.mkdir()
    for seed, auroc in ((1, 0.98346), (7, 0.98347), (42, 0.98348)):
        (cells / f"tshirt-vae-{seed}.json").write_text(json.dumps(_cell(auroc)))
    (cells / "ablation_full-gan-42.json").write_text(json.dumps({**_cell(0.95), "main_score": "l1", "auroc_l1": 0.95}))
    write_summary(cells, tmp_path / "p.json", tmp_path / "p.md", tmp_path / "a.png")
    assert "| tshirt | vae | detector | `bce` | no | 3 | 0.983 ± 0.000" in (tmp_path / "p.md").read_text()


def test_presets_are_valid_params() -> None:
    """Every preset merged into the committed params.yaml passes the schema."""
    for name in sorted(p.stem for p in PRESETS.glob("*.yaml")):
        for detector in DETECTORS:
            cell_params(REPO / "params.yaml", PRESETS, name, detector, 1)
    assert parse_params(yaml.safe_load((REPO / "params.yaml").read_text()))
