"""The ten-class benchmark pipeline (benchmark/dvc.yaml) end to end through DVC, in a temporary
copy of the repo where only `download` has run: its cells read the raw files and nothing else
of the default pipeline, so this file does not wait for a default `dvc repro` (and runs beside
test_pipeline.py when the suite runs on two workers)."""

from __future__ import annotations

import json
import shutil
import sys
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


@pytest.fixture(scope="module")
def project(mirror, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pipeline_project(mirror, tmp_path_factory.mktemp("benchmark"), "download")


def test_benchmark_through_dvc(project: Path) -> None:
    """The ten-class benchmark, cut to two classes and one extra seed, end to end through DVC:
    metrics/benchmark.json's means from the cells' own score tables, a second
    run does nothing, and a change to one detector's params reruns only that detector's cells."""
    shutil.copytree(REPO / "benchmark", project / "benchmark", ignore=shutil.ignore_patterns("dvc.lock"))
    spec = (project / "benchmark" / "dvc.yaml").read_text()
    (project / "benchmark" / "dvc.yaml").write_text(
        spec.replace("classes: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]", "classes: [0, 1]").replace("seeds: [7, 1]", "seeds: [7]"))
    (project / "benchmark" / "settings.yaml").write_text(
        yaml.safe_dump({"ae": {"epochs": 2}, "vae": {"epochs": 1}, "gan": {"epochs": 1},
                        "knn": {}, "iforest": {}, "gbt": {"max_iter": 20}}))
    original = (project / "params.yaml").read_text()
    params = yaml.safe_load(original)
    params["protocol"]["labeled_anomalies"] = "auto"   # one labeled class (unseen) has 24 images here
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        out = _run([sys.executable, "-m", "dvc", "repro", "benchmark/dvc.yaml"], project).stdout
        # 6 detectors x (2 classes + 1 seed), the unseen setting's 2 detectors x 2 classes, summary
        assert len(stages_run(out)) == 6 * 3 + 2 * 2 + 1
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
        assert "Unseen-anomaly setting" in (project / "metrics" / "benchmark.md").read_text()
        assert json.loads(shown)[""]["data"]["metrics/benchmark.json"]["data"] == bench   # declared, shown
        assert (project / "plots" / "benchmark.png").is_file() and "Kim et al." in (
            project / "metrics" / "benchmark.md").read_text()
        again = _run([sys.executable, "-m", "dvc", "repro", "benchmark/dvc.yaml"], project).stdout
        assert not stages_run(again)
        params["vae"]["hidden"] = 128
        (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        rerun = stages_run(_run([sys.executable, "-m", "dvc", "repro", "benchmark/dvc.yaml"], project).stdout)
        assert rerun == {"benchmark/dvc.yaml:cell@vae-0-42", "benchmark/dvc.yaml:cell@vae-1-42",
                         "benchmark/dvc.yaml:tshirt_seeds@vae-0-7", "benchmark/dvc.yaml:summary"}
    finally:
        (project / "params.yaml").write_text(original)
        for folder in ("benchmark", "data/benchmark", "metrics/benchmark", "data/benchmark_unseen",
                       "metrics/benchmark_unseen"):
            shutil.rmtree(project / folder, ignore_errors=True)
        for file in ("metrics/benchmark.json", "metrics/benchmark.md", "plots/benchmark.png"):
            (project / file).unlink(missing_ok=True)
