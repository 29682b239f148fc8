"""Metrics equal scikit-learn's on a fixture; curves are well formed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

from fmnist_ad.evaluate import curves, metrics


@pytest.fixture()
def table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(300, int), np.ones(100, int)]
    main = rng.normal(labels * 1.5, 1.0)
    return pd.DataFrame({"index": np.arange(400), "class": labels * 3, "label": labels, "s": main,
                         "t": rng.normal(size=400)})


def _thresholds(cut: float) -> dict:
    rule = {"cut": {"s": cut}}
    return {"main_score": "s", "report": rule, "f1": rule, "mcc": rule, "fpr": rule}


def test_metrics_match_sklearn(table: pd.DataFrame) -> None:
    m = metrics(table, _thresholds(0.75))
    assert m["auroc"] == pytest.approx(roc_auc_score(table.label, table.s))
    assert m["auprc"] == pytest.approx(average_precision_score(table.label, table.s))
    assert m["auroc_t"] == pytest.approx(roc_auc_score(table.label, table.t))
    pred = (table.s >= 0.75).astype(int)
    assert m["f1_f1"] == pytest.approx(f1_score(table.label, pred))
    assert m["f1_recall"] == pytest.approx(((pred == 1) & (table.label == 1)).sum() / 100)
    assert m["test_anomaly"] == 100 and m["test_normal"] == 300
    assert not [k for k in m if k.endswith(("_tp", "_fp", "_tn", "_fn"))]   # counts are plots


def test_auroc_uses_continuous_scores(table: pd.DataFrame) -> None:
    # a threshold that flags nothing leaves AUROC untouched
    assert metrics(table, _thresholds(1e9))["auroc"] == metrics(table, _thresholds(-1e9))["auroc"]


def test_curves(table: pd.DataFrame) -> None:
    c = curves(table, "s", bins=20, max_points=50)
    assert len(c["roc"]) <= 50 and c["roc"].fpr.iloc[0] == 0 and c["roc"].tpr.iloc[-1] == 1
    assert c["hist"].normal.sum() == 300 and c["hist"].anomaly.sum() == 100
    assert c["pr"].recall.is_monotonic_increasing
