"""Test-set metrics from continuous scores (AUROC, AUPRC) and from each fitted threshold rule,
plus the curve points that `dvc plots` draws."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (accuracy_score, average_precision_score, f1_score,
                             precision_recall_curve, precision_score, recall_score, roc_auc_score,
                             roc_curve)

from fmnist_ad.thresholds import RULES, predict

META_COLUMNS = ("index", "class", "label")


def score_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c not in META_COLUMNS]


def metrics(test: pd.DataFrame, thresholds: dict[str, Any],
            unseen_classes: Sequence[int] = ()) -> dict[str, float | int]:
    """Flat metric keys: ``auroc``/``auprc`` for the main score, ``auroc_<score>`` for each score,
    ``<rule>_accuracy|precision|recall|f1`` for each threshold rule. (The confusion counts are
    not metrics: they would double `dvc exp show`'s columns, and `dvc plots` draws them.)

    With ``unseen_classes`` (the unseen-anomaly protocol: anomaly classes no training or
    validation image showed), every key again as ``unseen_<key>``, on the test normals and the
    anomalies of those classes alone: how a detector does on kinds of anomaly it never saw."""
    out = _metrics(test, thresholds)
    if len(unseen_classes):
        unseen = test[(test["label"] == 0) | test["class"].isin(list(unseen_classes))]
        out |= {f"unseen_{k}": v for k, v in _metrics(unseen, thresholds).items()}
    return out


def _metrics(test: pd.DataFrame, thresholds: dict[str, Any]) -> dict[str, float | int]:
    y = test["label"].to_numpy()
    main = thresholds["main_score"]
    out: dict[str, float | int] = {
        "auroc": float(roc_auc_score(y, test[main])),
        "auprc": float(average_precision_score(y, test[main])),
    }
    for name in score_columns(test):
        out[f"auroc_{name}"] = float(roc_auc_score(y, test[name]))
        out[f"auprc_{name}"] = float(average_precision_score(y, test[name]))
    for rule in RULES:
        pred = predict(thresholds[rule], test)
        out.update({
            f"{rule}_accuracy": float(accuracy_score(y, pred)),
            f"{rule}_precision": float(precision_score(y, pred, zero_division=0)),
            f"{rule}_recall": float(recall_score(y, pred, zero_division=0)),
            f"{rule}_f1": float(f1_score(y, pred, zero_division=0)),
        })
    out["test_normal"] = int((y == 0).sum())
    out["test_anomaly"] = int((y == 1).sum())
    return out


def _thin(df: pd.DataFrame, max_points: int) -> pd.DataFrame:
    """Keep at most ``max_points`` evenly spaced rows (first and last included)."""
    if len(df) <= max_points:
        return df
    keep = np.unique(np.linspace(0, len(df) - 1, max_points).round().astype(int))
    return df.iloc[keep]


def curves(test: pd.DataFrame, main: str, bins: int = 50, max_points: int = 500) -> dict[str, pd.DataFrame]:
    """ROC and PR points of the main score, and its histogram for normals vs anomalies."""
    y, s = test["label"].to_numpy(), test[main].to_numpy()
    fpr, tpr, _ = roc_curve(y, s)
    precision, recall, _ = precision_recall_curve(y, s)
    edges = np.histogram_bin_edges(s, bins=bins)
    normal, _ = np.histogram(s[y == 0], bins=edges)
    anomaly, _ = np.histogram(s[y == 1], bins=edges)
    return {
        "roc": _thin(pd.DataFrame({"fpr": fpr, "tpr": tpr}), max_points),
        "pr": _thin(pd.DataFrame({"recall": recall[::-1], "precision": precision[::-1]}), max_points),
        "hist": pd.DataFrame({"score": (edges[:-1] + edges[1:]) / 2, "normal": normal, "anomaly": anomaly}),
    }


def confusion_rows(test: pd.DataFrame, rule: dict[str, Any]) -> pd.DataFrame:
    """Actual/predicted pairs for `dvc plots`' confusion template."""
    names = np.array(["normal", "anomaly"])
    return pd.DataFrame({"actual": names[test["label"].to_numpy()], "predicted": names[predict(rule, test)]})
