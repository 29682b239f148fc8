"""The VAE's section of ``params.yaml``."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from fmnist_ad.params.sections import NonNegativeInt, PositiveInt, ThresholdParams, TrainingParams


class VAEParams(TrainingParams):
    channels: Annotated[list[PositiveInt], Field(min_length=2, max_length=2)] = [32, 64]
    latent_dim: PositiveInt = 16
    hidden: PositiveInt = 256              # decoder's linear layer width before reshaping
    beta: Annotated[float, Field(ge=0)] = 1.0
    elbo_samples: NonNegativeInt = 0        # 0: the ELBO at z = mu (deterministic, no extra pass)
    patience: PositiveInt = 3
    weight_decay: Annotated[float, Field(ge=0)] = 0.0
    main_score: str = "blurred_bce_excess"
    threshold: ThresholdParams = ThresholdParams(report_rule="midpoint")

    score_names = ("bce", "elbo", "bce_excess", "elbo_excess", "blurred_bce_excess")
