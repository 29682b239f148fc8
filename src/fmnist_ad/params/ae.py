"""The AE's section of ``params.yaml``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from fmnist_ad.params.sections import PositiveFloat, PositiveInt, ThresholdParams, TrainingParams


class AEParams(TrainingParams):
    channels: Annotated[list[PositiveInt], Field(min_length=3, max_length=3)] = [16, 32, 64]
    patience: PositiveInt = 3
    kde_bandwidth: Literal["scott", "silverman"] | PositiveFloat = "scott"
    kde_precision: Literal["float32", "float64"] = "float32"
    knn_k: PositiveInt = 10
    combine: list[Literal["mse", "blurred_mse", "kde", "cos_knn"]] = ["cos_knn", "blurred_mse"]
    main_score: str = "combined"
    eval_batch_size: PositiveInt = 1024
    threshold: ThresholdParams = ThresholdParams(report_scores=["mse", "kde"])

    score_names = ("mse", "blurred_mse", "kde", "cos_knn", "combined")
    labeled_score_names = ("kde_ratio", "mse_gap")

    def available_scores(self) -> tuple[str, ...]:
        """Without ``combine`` there is no ``combined`` score."""
        return tuple(s for s in super().available_scores() if self.combine or s != "combined")
