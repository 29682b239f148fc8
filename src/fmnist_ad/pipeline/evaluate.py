"""Stage `evaluate@M`: test metrics from continuous scores and each threshold rule, and curves.

``metrics/M.json`` holds the figures worth a column in ``dvc exp show``: AUROC / AUPRC of the
main score, the AUROC of every other score and the F1 of the report's rule and of the MCC rule.
Every rule's accuracy / precision / recall is in the `compare` stage's ``metrics/summary.md``;
the confusion counts are in ``plots/M/confusion.csv``.
"""

from __future__ import annotations

import json
from pathlib import Path

from fmnist_ad.atomic import atomic_dir, write_json
from fmnist_ad.errors import UserError
from fmnist_ad.evaluate import confusion_rows, curves, metrics
from fmnist_ad.params import load_params
from fmnist_ad.pipeline.threshold import read_scores

#: rules whose test F1 is a headline metric: the report's, and the one that does not degenerate
#: when anomalies dominate validation
HEADLINE_RULES = ("report", "mcc")


def headline(full: dict[str, float | int], main_score: str) -> dict[str, float | int]:
    """The headline subset of :func:`fmnist_ad.evaluate.metrics` (``auroc_<main>`` is ``auroc``),
    and under the unseen-anomaly protocol the same keys on the unseen classes (``unseen_auroc``)."""
    out = {"auroc": full["auroc"], "auprc": full["auprc"]}
    out |= {k: v for k, v in full.items() if k.startswith("auroc_") and k != f"auroc_{main_score}"}
    out |= {f"{rule}_f1": full[f"{rule}_f1"] for rule in HEADLINE_RULES}
    if "unseen_auroc" in full:
        unseen = {k.removeprefix("unseen_"): v for k, v in full.items() if k.startswith("unseen_")}
        out |= {f"unseen_{k}": v for k, v in headline(unseen, main_score).items()}
    return out


def run_evaluate(params_path: Path, name: str, scores_dir: Path, thresholds_path: Path,
                 metrics_path: Path, plots_dir: Path) -> None:
    protocol = load_params(params_path).protocol
    thresholds = json.loads(Path(thresholds_path).read_text())
    if thresholds.get("model") != name:
        raise UserError(f"{thresholds_path}: thresholds of {thresholds.get('model')!r}, not of {name!r}; "
                        f"run `dvc repro threshold@{name}`")
    test = read_scores(scores_dir / "test.csv")
    write_json(metrics_path, headline(metrics(test, thresholds, protocol.unseen_classes), thresholds["main_score"]))
    with atomic_dir(plots_dir) as tmp:
        for curve, frame in curves(test, thresholds["main_score"]).items():
            frame.to_csv(tmp / f"{curve}.csv", index=False, float_format="%.6g")
        confusion_rows(test, thresholds["mcc"]).to_csv(tmp / "confusion.csv", index=False)
