"""Threshold rules on hand-built score arrays with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fmnist_ad.params.sections import ThresholdParams
from fmnist_ad.thresholds import best_cut, counts_at_cuts, fit_thresholds, fpr_cut, predict


def test_counts_at_cuts_by_hand() -> None:
    c = counts_at_cuts(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1]))
    assert c["cut"].tolist() == [0.1, 0.35, 0.4, 0.8]
    assert c["tp"].tolist() == [2, 2, 1, 1]
    assert c["fp"].tolist() == [2, 1, 1, 0]
    assert c["tn"].tolist() == [0, 1, 1, 2]
    assert c["fn"].tolist() == [0, 0, 1, 1]


def test_best_cut_separable_and_f1() -> None:
    scores = np.array([1.0, 2.0, 3.0, 10.0, 11.0, 12.0])
    labels = np.array([0, 0, 0, 1, 1, 1])
    assert best_cut(scores, labels, "accuracy") == 10.0
    assert best_cut(scores, labels, "f1") == 10.0
    # one anomaly hidden among normals: F1 prefers catching it (cut 2) over precision (cut 10)?
    labels2 = np.array([0, 1, 0, 1, 1, 1])
    # cut 2: tp=4 fp=1 -> F1 = 8/9; cut 10: tp=3 fn=1 -> 6/7; cut 1: tp=4 fp=2 -> 0.8
    assert best_cut(scores, labels2, "f1") == 2.0


def test_fpr_cut() -> None:
    normals = np.arange(100, dtype=float)         # 0..99
    scores = np.concatenate([normals, [200.0]])
    labels = np.array([0] * 100 + [1])
    cut = fpr_cut(scores, labels, 0.05)
    assert cut == 95.0                            # 95..99 flagged: exactly 5% FPR
    assert ((normals >= cut).mean()) <= 0.05


def _table(mse, kde, labels) -> pd.DataFrame:
    return pd.DataFrame({"label": labels, "mse": mse, "kde": kde, "combined": np.add(mse, kde) / 2})


def test_report_distance_rule_needs_both_scores() -> None:
    labels = np.array([0, 0, 0, 0, 1, 0, 0])   # images 5 and 6 are normals far on one score only
    mse = np.array([0.0, 1.0, 2.0, 1.0, 5.0, 5.0, 1.0])
    kde = np.array([1.0, 0.0, 1.0, 2.0, 5.0, 1.0, 5.0])
    t = fit_thresholds(_table(mse, kde, labels), "combined", ThresholdParams(report_scores=["mse", "kde"]))
    rule = t["report"]
    assert rule["kind"] == "distance" and set(rule["cut"]) == {"mse", "kde"}
    pred = predict(rule, _table(mse, kde, labels))
    # only the image far on both scores is flagged by the AND rule
    assert pred.tolist() == [0, 0, 0, 0, 1, 0, 0]
    assert rule["k"] > 0
    mu, sd = np.mean(mse[labels == 0]), np.std(mse[labels == 0])
    assert rule["cut"]["mse"] == pytest.approx(mu + rule["k"] * sd)


def test_midpoint_rule() -> None:
    labels = np.array([0, 0, 1, 1])
    s = np.array([1.0, 3.0, 9.0, 11.0])
    t = fit_thresholds(pd.DataFrame({"label": labels, "bce": s}), "bce", ThresholdParams(report_rule="midpoint"))
    assert t["report"]["cut"] == {"bce": 6.0}
    assert t["f1"]["cut"] == {"bce": 9.0}


def test_single_class_validation_is_refused() -> None:
    with pytest.raises(ValueError, match="only one class"):
        fit_thresholds(pd.DataFrame({"label": [0, 0], "l1": [1.0, 2.0]}), "l1", ThresholdParams())
