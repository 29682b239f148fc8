"""The kNN baseline's section of ``params.yaml``."""

from __future__ import annotations

from typing import Literal

from fmnist_ad.params.sections import DetectorParams, PositiveInt


class KNNParams(DetectorParams):
    n_neighbors: PositiveInt = 5
    method: Literal["mean", "largest", "median"] = "mean"
    main_score: str = "knn_distance"

    score_names = ("knn_distance",)
