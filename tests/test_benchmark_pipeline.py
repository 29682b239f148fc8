"""The ten-class benchmark pipeline (benchmark/dvc.yaml) end to end through DVC, in a temporary
copy of the repo where only `download` has run: its cells read the raw files and nothing else
of the default pipeline, so this file does not wait for a default `dvc repro` (and runs beside
test_pipeline.py when the suite runs on two workers)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from sklearn.metrics import roc_auc_score

from conftest import pipeline_project
from sandbox import REPO, run, stages_run

pytestmark = pytest.mark.pipeline


def _run(args: list[str], cwd: Path):
    return run(args, cwd, OMP_NUM_THREADS="1")


def _make_cells(jobs: int) -> list[str]:
    """`make cells` of the benchmark pipeline with this interpreter's venv."""
    return ["make", "-s", "-f", str(REPO / "Makefile"), "cells", "PIPELINE=benchmark/dvc.yaml", f"JOBS={jobs}",
            f"VENV={Path(sys.executable).parent.parent}"]


def _killed_after_first_cell(project: Path) -> str:
    """Run the cells one at a time and kill the run once the first stale cell is recorded
    (its successor starts); return that cell's name."""
    env = dict(os.environ, DVC_NO_ANALYTICS="1", OMP_NUM_THREADS="1")
    proc = subprocess.Popen(_make_cells(jobs=1), cwd=project, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    started = []
    try:
        for line in proc.stdout:
            if line.startswith("Running stage"):
                started.append(line.split("'")[1])
                if len(started) == 2:
                    break
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        for _ in range(600):  # the group's DVC processes die a moment after make: wait for them
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
    assert len(started) == 2, started
    return started[0]


@pytest.fixture(scope="module")
def project(mirror, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pipeline_project(mirror, tmp_path_factory.mktemp("benchmark"), "download")


def test_benchmark_through_dvc(project: Path) -> None:
    """The ten-class benchmark, cut to two classes and one extra seed, end to end through DVC two
    cells at a time (`make cells JOBS=2`): metrics/benchmark.json's means from the cells' own
    score tables, a serial rerun of a cell writes the same metrics, a second run does nothing, a
    change to one detector's params reruns only that detector's cells, and a run killed after
    its first cell resumes with the others."""
    shutil.copytree(REPO / "benchmark", project / "benchmark", ignore=shutil.ignore_patterns("dvc.lock"))
    spec = (project / "benchmark" / "dvc.yaml").read_text()
    (project / "benchmark" / "dvc.yaml").write_text(
        spec.replace("classes: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]", "classes: [0, 1]").replace("seeds: [7, 1]", "seeds: [7]")
        .replace("all_seeds: [42, 7, 1]", "all_seeds: [42, 7]"))
    (project / "benchmark" / "settings.yaml").write_text(
        yaml.safe_dump({"ae": {"epochs": 2}, "vae": {"epochs": 1}, "gan": {"epochs": 1},
                        "knn": {}, "iforest": {}, "gbt": {"max_iter": 20}}))
    original = (project / "params.yaml").read_text()
    params = yaml.safe_load(original)
    params["protocol"]["labeled_anomalies"] = "auto"   # one labeled class (unseen) has 24 images here
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        out = _run(_make_cells(jobs=2), project).stdout  # two cells at a time, each through DVC
        # 6 detectors x (2 classes + 1 seed), the unseen setting's 2 detectors x 2 classes x 2 seeds, summary
        assert len(stages_run(out)) == 6 * 3 + 2 * 2 * 2 + 1
        assert "up to date" in _run([sys.executable, "-m", "dvc", "status", "benchmark/dvc.yaml"], project).stdout
        shown = _run([sys.executable, "-m", "dvc", "metrics", "show", "--json"], project).stdout
        bench = json.loads((project / "metrics" / "benchmark.json").read_text())
        for detector, score in (("ae", "combined"), ("ae", "mse"), ("ae", "kde_ratio"), ("vae", "blurred_bce_excess"), ("vae", "bce"),
                                ("gan", "knn_gap"), ("gan", "l1"), ("knn", "knn_distance"), ("gbt", "log_odds")):
            aurocs = []
            for normal in (0, 1):
                test = pd.read_csv(project / "data" / "benchmark" / f"{detector}-{normal}-42" / "test.csv")
                assert set(test.loc[test["label"] == 0, "class"]) == {normal}
                aurocs.append(roc_auc_score(test["label"], test[score]))
            e = bench[detector][score]
            assert e["mean_auroc"] == pytest.approx(sum(aurocs) / 2, abs=1e-4)
            assert e["worst_auroc"] == pytest.approx(min(aurocs), abs=1e-4)
            assert {"class0_seeds_mean", "class0_seeds_std"} <= set(e)
        unseen = []
        for normal in (0, 1):                              # labeled: the next class only
            test = pd.read_csv(project / "data" / "benchmark_unseen" / f"gbt-{normal}-42" / "test.csv")
            rows = test[(test["label"] == 0) | ~test["class"].isin([normal, normal + 1])]
            unseen.append(roc_auc_score(rows["label"], rows["log_odds"]))
        assert bench["unseen"]["gbt"]["log_odds"]["mean_auroc"] == pytest.approx(sum(unseen) / 2, abs=1e-4)
        gap = bench["unseen"]["gan"]["knn_gap"]                  # both classes under seeds 42 and 7
        assert gap["class0_seeds_std"] >= 0 and gap["seeds_std_auroc"] >= 0
        assert "Unseen-anomaly setting" in (project / "metrics" / "benchmark.md").read_text()
        assert json.loads(shown)[""]["data"]["metrics/benchmark.json"]["data"] == bench   # declared, shown
        assert (project / "plots" / "benchmark.png").is_file() and "Kim et al." in (
            project / "metrics" / "benchmark.md").read_text()
        assert not stages_run(_run(_make_cells(jobs=2), project).stdout)  # a second run does nothing
        cells = ("ae-0-42", "gbt-1-42")  # a serial forced rerun of two cells writes the same metrics (but the time)
        parallel = {c: json.loads((project / "metrics" / "benchmark" / f"{c}.json").read_text()) for c in cells}
        rerun = _run(_make_cells(jobs=1) + ["CELLS=:cell@(ae-0|gbt-1)-42", "FORCE=1"], project).stdout
        assert stages_run(rerun) == {f"benchmark/dvc.yaml:cell@{c}" for c in cells}  # those cells, no summary
        for cell in cells:
            serial = json.loads((project / "metrics" / "benchmark" / f"{cell}.json").read_text())
            for timing in ("train_seconds", "cell_seconds"):
                assert parallel[cell].pop(timing) > 0 and serial.pop(timing) > 0
            assert serial == parallel[cell], cell
        params["vae"]["hidden"] = 128
        (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        stale = {"benchmark/dvc.yaml:cell@vae-0-42", "benchmark/dvc.yaml:cell@vae-1-42",
                 "benchmark/dvc.yaml:tshirt_seeds@vae-0-7", "benchmark/dvc.yaml:summary"}
        assert _killed_after_first_cell(project) == "benchmark/dvc.yaml:cell@vae-0-42"
        resumed = stages_run(_run(_make_cells(jobs=2), project).stdout)
        assert resumed == stale - {"benchmark/dvc.yaml:cell@vae-0-42"}
    finally:
        (project / "params.yaml").write_text(original)
        for folder in ("benchmark", "data/benchmark", "metrics/benchmark", "data/benchmark_unseen",
                       "metrics/benchmark_unseen"):
            shutil.rmtree(project / folder, ignore_errors=True)
        for file in ("metrics/benchmark.json", "metrics/benchmark.md", "plots/benchmark.png"):
            (project / file).unlink(missing_ok=True)
