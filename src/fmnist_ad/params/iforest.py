"""The Isolation Forest baseline's section of ``params.yaml``."""

from __future__ import annotations

from typing import Literal

from fmnist_ad.params.sections import DetectorParams, PositiveInt


class IForestParams(DetectorParams):
    n_estimators: PositiveInt = 200
    max_samples: Literal["auto"] | PositiveInt = "auto"
    main_score: str = "isolation"

    score_names = ("isolation",)
