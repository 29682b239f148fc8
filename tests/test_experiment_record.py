"""An experiment's record copied from its git ref and tabled beside the default run."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from fmnist_ad.experiment_record import ExperimentError, keep, run_files, write_summary


def _write_run(root: Path, epochs: int, best: int, auroc: float) -> None:
    files = run_files("gan")
    for path in files.values():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
    (root / files["metrics.json"]).write_text(json.dumps({"auroc": auroc, "auprc": 0.99, "auroc_l1": 0.97}))
    (root / files["training.json"]).write_text(json.dumps({"epochs": epochs, "best_epoch": best, "best_val_auroc": 0.99,
                                                           "train_seconds": 10.0 * epochs, "device": "cpu"}))
    for curve in ("auroc", "auroc_l1"):  # 4 steps an epoch, logged after each epoch's last step
        rows = "".join(f"{4 * e + 3}\t{0.9 + e / 1000}\n" for e in range(epochs))
        (root / files[f"val_{curve}.tsv"]).write_text(f"step\t{curve}\n{rows}")


def test_experiment_record_is_copied_from_its_ref_and_tabled(tmp_path: Path) -> None:
    git = lambda *a: subprocess.run(["git", *a], cwd=tmp_path, check=True, capture_output=True, text=True)  # noqa: E731
    git("init", "-q")
    _write_run(tmp_path, 30, 29, 0.99)
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "exp")
    git("update-ref", "refs/exps/ab/cdef/long-run", git("rev-parse", "HEAD").stdout.strip())
    _write_run(tmp_path, 3, 2, 0.95)  # the default run, in the working tree
    keep("long-run", "gan", tmp_path / "kept", tmp_path)
    assert json.loads((tmp_path / "kept" / "training.json").read_text())["epochs"] == 30
    with pytest.raises(ExperimentError, match="0 experiments named 'nope'"):
        keep("nope", "gan", tmp_path / "other", tmp_path)
    files = run_files("gan")
    runs = {"default": {f: tmp_path / p for f, p in files.items()}, "long-run": {f: tmp_path / "kept" / f for f in files}}
    (tmp_path / "b.json").write_text(json.dumps({"auroc": 0.98, "auprc": 0.99}))  # a baseline: no epochs, no l1
    (tmp_path / "bt.json").write_text(json.dumps({"epochs": None, "best_epoch": None, "train_seconds": 2.0, "device": "cpu"}))
    write_summary("long-run", "gan", runs, tmp_path / "r.md", tmp_path / "r.png",
                  ("baseline", {"metrics.json": tmp_path / "b.json", "training.json": tmp_path / "bt.json"}))
    table = (tmp_path / "r.md").read_text()  # best epoch from 1 (Lightning's from 0)
    assert "| default | 3 | 3 | 0.990 | 0.950 | 0.970 | 30 | cpu |" in table
    assert "| long-run | 30 | 30 | 0.990 | 0.990 | 0.970 | 300 | cpu |" in table
    assert "| baseline | - | - | - | 0.980 | - | 2 | cpu |" in table
    assert (tmp_path / "r.png").stat().st_size > 0
