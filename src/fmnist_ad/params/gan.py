"""The GAN's section of ``params.yaml``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from fmnist_ad.params.sections import PositiveFloat, PositiveInt, Section, TrainingParams


class GANWeights(Section):
    """Loss weights: Kim et al.'s Table 2 but ``abc`` 5 (theirs 0.5, preset ``tshirt_paper_abc``)."""

    rec: Annotated[float, Field(ge=0)] = 1.5
    patch: Annotated[float, Field(ge=0)] = 1.5
    latent: Annotated[float, Field(ge=0)] = 0.5
    adv: Annotated[float, Field(ge=0)] = 0.5
    anomaly_adv: Annotated[float, Field(ge=0)] = 1.0
    abc: Annotated[float, Field(ge=0)] = 5.0


class PatchParams(Section):
    size: PositiveInt = 16
    stride: PositiveInt = 8
    top_n: PositiveInt = 3


class GANParams(TrainingParams):
    arch: Literal["unet", "conv"] = "unet"
    epochs: PositiveInt = 15
    batch_size: PositiveInt = 16
    lr: PositiveFloat = 2e-4
    eval_batch_size: PositiveInt = 512
    betas: Annotated[list[Annotated[float, Field(ge=0, lt=1)]], Field(min_length=2, max_length=2)] = [0.5, 0.999]
    lr_step: PositiveInt = 50
    augment: bool = False
    weights: GANWeights = GANWeights()
    patch: PatchParams = PatchParams()
    knn_k: PositiveInt = 5
    main_score: str = "knn_gap"

    score_names = ("l1", "mse", "knn_gap", "knn_gap_pixels")
    #: trained against (or compared with) labeled anomalies; ``knn_gap_pixels`` needs no network
    labeled_score_names = ("l1", "mse", "knn_gap", "knn_gap_pixels")
    control_score_names = ("knn_gap_pixels",)

    @model_validator(mode="before")
    @classmethod
    def _renamed_archs(cls, data: object) -> object:
        renamed = {"paper": "unet", "report": "conv"}
        if isinstance(data, dict) and data.get("arch") in renamed:
            raise ValueError(f"arch {data['arch']!r} is now {renamed[data['arch']]!r}: 'unet' is Kim et al.'s "
                             "U-Net on 32x32 images, 'conv' the project report's plain conv autoencoder on 28x28")
        return data

    @model_validator(mode="after")
    def _patch_fits(self) -> GANParams:
        side = 32 if self.arch == "unet" else 28
        if self.patch.size > side:
            raise ValueError(f"patch.size {self.patch.size} exceeds the {side}px input of arch {self.arch!r}")
        return self
