"""Stage `evaluate@M`: test metrics from continuous scores and each threshold rule, and curves."""

from __future__ import annotations

import json
from pathlib import Path

from fmnist_ad.atomic import atomic_dir, write_json
from fmnist_ad.evaluate import confusion_rows, curves, metrics
from fmnist_ad.params import load_params
from fmnist_ad.pipeline.threshold import read_scores


def run_evaluate(params_path: Path, model: str, scores_dir: Path, thresholds_path: Path,
                 metrics_path: Path, plots_dir: Path) -> None:
    load_params(params_path)
    thresholds = json.loads(Path(thresholds_path).read_text())
    test = read_scores(scores_dir / "test.csv")
    write_json(metrics_path, metrics(test, thresholds))
    with atomic_dir(plots_dir) as tmp:
        for name, frame in curves(test, thresholds["main_score"]).items():
            frame.to_csv(tmp / f"{name}.csv", index=False, float_format="%.6g")
        confusion_rows(test, thresholds["mcc"]).to_csv(tmp / "confusion.csv", index=False)
