"""The gradient-boosted classifier baseline's section of ``params.yaml``."""

from __future__ import annotations

from fmnist_ad.params.sections import DetectorParams, PositiveFloat, PositiveInt


class GBTParams(DetectorParams):
    max_iter: PositiveInt = 300
    learning_rate: PositiveFloat = 0.1
    max_leaf_nodes: PositiveInt = 31
    main_score: str = "log_odds"

    score_names = ("log_odds",)
    #: a classifier of normals against the labeled anomalies
    labeled_score_names = ("log_odds",)
