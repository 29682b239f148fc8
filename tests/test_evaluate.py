"""Metrics on a table worked by hand; curves are well formed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

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


def test_metrics_known_values() -> None:
    """Worked by hand. Scores s: normals 0.1, 0.4, anomalies 0.35, 0.8: 3 of the 4
    (anomaly, normal) pairs ordered right, AUROC 0.75; ranked 0.8 (hit), 0.4, 0.35 (hit):
    average precision 1/2 * 1 + 1/2 * 2/3. The cut 0.35 flags 0.4, 0.35, 0.8: precision 2/3,
    recall 1, F1 0.8, accuracy 3/4. Scores t order 2 of 4 pairs right: AUROC 0.5."""
    table = pd.DataFrame({"index": range(4), "class": [0, 0, 3, 3], "label": [0, 0, 1, 1],
                          "s": [0.1, 0.4, 0.35, 0.8], "t": [0.9, 0.1, 0.2, 0.3]})
    m = metrics(table, _thresholds(0.35))
    assert m["auroc"] == pytest.approx(0.75) and m["auroc_t"] == pytest.approx(0.5)
    assert m["auprc"] == pytest.approx(5 / 6)
    assert (m["f1_precision"], m["f1_recall"], m["f1_f1"], m["f1_accuracy"]) == pytest.approx((2 / 3, 1, 0.8, 0.75))
    assert m["test_anomaly"] == 2 and m["test_normal"] == 2
    assert not [k for k in m if k.endswith(("_tp", "_fp", "_tn", "_fn"))]   # counts are plots


def test_auroc_uses_continuous_scores(table: pd.DataFrame) -> None:
    # a threshold that flags nothing leaves AUROC untouched
    assert metrics(table, _thresholds(1e9))["auroc"] == metrics(table, _thresholds(-1e9))["auroc"]


def test_curves(table: pd.DataFrame) -> None:
    c = curves(table, "s", bins=20, max_points=50)
    assert len(c["roc"]) <= 50 and c["roc"].fpr.iloc[0] == 0 and c["roc"].tpr.iloc[-1] == 1
    assert c["hist"].normal.sum() == 300 and c["hist"].anomaly.sum() == 100
    assert c["pr"].recall.is_monotonic_increasing
