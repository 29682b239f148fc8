"""Four threshold rules, all fitted on validation scores only.

An image is predicted anomalous when its score is >= the cut. Rules:
- ``report``: the project report's rule. ``distance``: every listed score at least k
  validation-normal standard deviations above the validation-normal mean, one shared k chosen
  for validation accuracy. ``midpoint``: halfway between the mean validation score of normals (NL)
  and of anomalies (AL); the report leaves the exact point open, we take the midpoint.
- ``f1``: the cut on the main score with the best validation F1 (the report's metric). Under
  imbalance it degenerates: with 90% anomalies in validation, flagging everything already scores
  F1 0.947, so the cut drifts down and flags most normals.
- ``mcc``: the cut on the main score with the best validation Matthews correlation, which is 0
  for any constant verdict and weighs both classes whatever their shares.
- ``fpr``: the lowest cut on the main score whose validation false-positive rate is <= target.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from fmnist_ad.params.sections import ThresholdParams

RULES = ("report", "f1", "mcc", "fpr")


def counts_at_cuts(scores: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """Confusion counts for every candidate cut (the distinct scores, ascending), vectorised."""
    order = np.argsort(scores, kind="stable")
    s, y = scores[order], labels[order].astype(np.int64)
    cuts, first = np.unique(s, return_index=True)
    # images at positions >= first[i] are predicted anomalous for cut i
    anomalies_below = np.concatenate([[0], np.cumsum(y)])[first]
    normals_below = first - anomalies_below
    pos, neg = int(y.sum()), int(len(y) - y.sum())
    tp = pos - anomalies_below
    fp = neg - normals_below
    return {"cut": cuts, "tp": tp, "fp": fp, "fn": anomalies_below, "tn": normals_below}


def _accuracy(c: dict[str, np.ndarray]) -> np.ndarray:
    return (c["tp"] + c["tn"]) / (c["tp"] + c["tn"] + c["fp"] + c["fn"])


def _f1(c: dict[str, np.ndarray]) -> np.ndarray:
    denom = 2 * c["tp"] + c["fp"] + c["fn"]
    return np.divide(2 * c["tp"], denom, out=np.zeros(len(denom)), where=denom > 0)


def _mcc(c: dict[str, np.ndarray]) -> np.ndarray:
    tp, fp, fn, tn = (c[k].astype(np.float64) for k in ("tp", "fp", "fn", "tn"))
    denom = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return np.divide(tp * tn - fp * fn, denom, out=np.zeros(len(denom)), where=denom > 0)


OBJECTIVES = {"accuracy": _accuracy, "f1": _f1, "mcc": _mcc}


def best_cut(scores: np.ndarray, labels: np.ndarray, objective: str) -> float:
    """The cut maximising validation ``accuracy``, ``f1`` or ``mcc`` (lowest cut on ties)."""
    c = counts_at_cuts(scores, labels)
    values = OBJECTIVES[objective](c)
    return float(c["cut"][int(np.argmax(values))])


def fpr_cut(scores: np.ndarray, labels: np.ndarray, target: float) -> float:
    """Lowest cut whose false-positive rate on validation normals is at most ``target``."""
    c = counts_at_cuts(scores, labels)
    neg = max(int((labels == 0).sum()), 1)
    ok = np.flatnonzero(c["fp"] / neg <= target)
    return float(c["cut"][ok[0]]) if len(ok) else float(np.nextafter(scores.max(), np.inf))


def normal_stats(val: pd.DataFrame, names: list[str]) -> dict[str, tuple[float, float]]:
    """Mean and std of each score over validation normals (the report rule's reference)."""
    normals = val[val["label"] == 0]
    return {n: (float(normals[n].mean()), float(normals[n].std(ddof=0) or 1.0)) for n in names}


def _min_z(df: pd.DataFrame, stats: dict[str, tuple[float, float]]) -> np.ndarray:
    return np.min([(df[n].to_numpy() - mu) / sd for n, (mu, sd) in stats.items()], axis=0)


def fit_thresholds(val: pd.DataFrame, main_score: str, params: ThresholdParams) -> dict[str, Any]:
    """Fit all four rules on the validation score table (columns: label + score columns)."""
    labels = val["label"].to_numpy()
    if labels.min() == labels.max():
        raise ValueError("validation holds only one class; thresholds need normals and anomalies "
                         "(check protocol.val_size and protocol.val_anomaly_share)")
    main = val[main_score].to_numpy()
    if params.report_rule == "midpoint":
        nl, al = float(main[labels == 0].mean()), float(main[labels == 1].mean())
        report = {"kind": "midpoint", "scores": [main_score], "normal_mean": nl, "anomaly_mean": al,
                  "cut": {main_score: (nl + al) / 2}}
    else:
        names = list(params.report_scores or [main_score])
        stats = normal_stats(val, names)
        k = best_cut(_min_z(val, stats), labels, "accuracy")
        report = {"kind": "distance", "scores": names, "k": k,
                  "normal_stats": {n: {"mean": mu, "std": sd} for n, (mu, sd) in stats.items()},
                  "cut": {n: mu + k * sd for n, (mu, sd) in stats.items()}}
    return {
        "main_score": main_score,
        "report": report,
        "f1": {"scores": [main_score], "cut": {main_score: best_cut(main, labels, "f1")}},
        "mcc": {"scores": [main_score], "cut": {main_score: best_cut(main, labels, "mcc")}},
        "fpr": {"scores": [main_score], "target_fpr": params.target_fpr,
                "cut": {main_score: fpr_cut(main, labels, params.target_fpr)}},
    }


def predict(rule: dict[str, Any], scores: pd.DataFrame | Mapping[str, np.ndarray]) -> np.ndarray:
    """0/1 predictions: anomalous when every score of the rule reaches its cut (a score table or
    a mapping of score names to arrays)."""
    hits = [np.asarray(scores[name]) >= cut for name, cut in rule["cut"].items()]
    return np.logical_and.reduce(hits).astype(np.int64)
