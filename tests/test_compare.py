"""The `compare` stage on a small fake project built with the real threshold and metric code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import REPO
from fmnist_ad.evaluate import metrics
from fmnist_ad.params.sections import ThresholdParams
from fmnist_ad.compare import write_comparison
from fmnist_ad.thresholds import fit_thresholds

#: model -> (score columns, main score, threshold params), as in params.yaml
MODELS = {
    "ae": (["mse", "kde", "combined"], "combined", ThresholdParams(report_scores=["mse", "kde"])),
    "vae": (["bce", "elbo"], "bce", ThresholdParams(report_rule="midpoint")),
    "gan": (["l1", "mse"], "l1", ThresholdParams()),
}
CURVES = {"ae": ["train/loss", "val/loss"], "vae": ["train/loss", "val/loss", "train/kl"], "gan": ["val/auroc"]}


def score_table(names: list[str], seed: int, normals: int = 60, anomalies: int = 140) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    labels = np.r_[np.zeros(normals, int), np.ones(anomalies, int)]
    scores = {name: rng.normal(labels * (1 + k), 1.0) + 3 for k, name in enumerate(names)}
    return pd.DataFrame({"index": np.arange(len(labels)) * 7, "class": labels * 4, "label": labels, **scores})


def write_model(root: Path, model: str, seed: int) -> None:
    """Every input of the comparison for one model, in the pipeline's layout."""
    names, main, params = MODELS[model]
    val, test = score_table(names, seed), score_table(names, seed + 100)
    scores = root / "data" / "scores" / model
    scores.mkdir(parents=True)
    test.to_csv(scores / "test.csv", index=False)
    pick = np.r_[0:4, 60:64]
    rng = np.random.default_rng(seed)
    np.savez_compressed(scores / "reconstructions.npz",
                        images=rng.integers(0, 256, (8, 28, 28), dtype=np.uint8),
                        labels=test["label"].to_numpy()[pick].astype(np.uint8),
                        index=test["index"].to_numpy()[pick],
                        reconstructions=rng.random((8, 1, 28, 28), dtype=np.float32))
    thresholds = {"model": model, **fit_thresholds(val, main, params)}
    (root / "data" / "thresholds").mkdir(parents=True, exist_ok=True)
    (root / "data" / "thresholds" / f"{model}.json").write_text(json.dumps(thresholds))
    (root / "metrics" / "training").mkdir(parents=True, exist_ok=True)
    (root / "metrics" / f"{model}.json").write_text(json.dumps(metrics(test, thresholds)))
    (root / "metrics" / "training" / f"{model}.json").write_text(json.dumps(
        {"model": model, "epochs": 5, "best_epoch": 3, "train_seconds": 12.5, "device": "cpu"}))
    logs = root / "plots" / "training" / model / "plots" / "metrics"
    for curve in [*CURVES[model], "epoch"]:
        path = logs / f"{curve}.tsv"
        path.parent.mkdir(parents=True, exist_ok=True)
        name = path.stem
        pd.DataFrame({"step": np.arange(5) * 10 + 9, name: np.linspace(1, 0.2, 5)}).to_csv(path, sep="\t", index=False)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("project")
    for seed, model in enumerate(MODELS):
        write_model(root, model, seed)
    write_comparison(root, list(MODELS), root / "metrics" / "summary.json", root / "metrics" / "summary.md",
                     root / "plots" / "compare")
    return root


def test_summary_json_nested_per_model(project: Path) -> None:
    summary = json.loads((project / "metrics" / "summary.json").read_text())
    assert list(summary) == list(MODELS)
    for model, (_, main, _) in MODELS.items():
        m = json.loads((project / "metrics" / f"{model}.json").read_text())
        s = summary[model]
        assert s["main_score"] == main
        assert s["auroc"] == m["auroc"] and s["auprc"] == m["auprc"]
        for rule in ("report", "f1", "mcc", "fpr"):
            for stat in ("accuracy", "precision", "recall", "f1"):
                assert s[f"{rule}_{stat}"] == m[f"{rule}_{stat}"]
        assert (s["epochs"], s["train_seconds"], s["device"]) == (5, 12.5, "cpu")


def test_summary_markdown_one_row_per_model(project: Path) -> None:
    lines = [line for line in (project / "metrics" / "summary.md").read_text().splitlines() if line.startswith("|")]
    header, rule, *rows = lines
    assert "AUROC" in header and "report acc / P / R / F1" in header and "device" in header
    assert set(rule.replace("|", "").split()) == {"---"}
    assert [row.split("|")[1].strip() for row in rows] == list(MODELS)
    assert all(row.count("|") == header.count("|") for row in rows)


def test_every_figure_is_a_png(project: Path) -> None:
    folder = project / "plots" / "compare"
    expected = {"roc.png", "pr.png", "ae_separation.png"} | {
        f"{kind}_{model}.png" for kind in ("hist", "confusion", "recon", "training") for model in MODELS}
    assert {p.name for p in folder.iterdir()} == expected
    for name in expected:
        assert (folder / name).read_bytes()[:4] == b"\x89PNG", name


def test_missing_model_names_path_and_stage(project: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "stages" / "compare.py"), "--root", str(project), "--models", "ae", "svdd",
         "--out-json", str(tmp_path / "s.json"), "--out-md", str(tmp_path / "s.md"), "--figures", str(tmp_path / "f")],
        capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert "data/scores/svdd/test.csv" in proc.stderr and "dvc repro evaluate@svdd" in proc.stderr
    assert not any(tmp_path.iterdir())  # nothing written when an input is missing
