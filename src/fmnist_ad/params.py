"""The schema of ``params.yaml``, validated at the start of every stage.

Every problem is reported at once, each naming its key (``ae.lr``) and what would fix it, so a
typo in ``dvc exp run -S`` fails in a second instead of after an hour of training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from fmnist_ad.errors import UserError

NUM_CLASSES = 10
CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
Share = Annotated[float, Field(ge=0, le=1)]
ClassId = Annotated[int, Field(ge=0, lt=NUM_CLASSES)]


class ParamsError(UserError, ValueError):
    """``params.yaml`` is invalid; the message lists every problem with its key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataParams(_Section):
    mirrors: list[str] = []
    download: bool = True
    sha256: dict[str, Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]]

    @field_validator("sha256")
    @classmethod
    def _all_files(cls, value: dict[str, str]) -> dict[str, str]:
        missing = [name for name in IDX_FILES if name not in value]
        extra = [name for name in value if name not in IDX_FILES]
        if missing or extra:
            raise ValueError(
                f"needs exactly the keys {list(IDX_FILES)}; missing {missing}, unknown {extra}"
            )
        return value


class ProtocolParams(_Section):
    seed: int = 42
    normal_classes: Annotated[list[ClassId], Field(min_length=1)]
    anomaly_classes: Annotated[list[ClassId], Field(min_length=1)]
    val_size: PositiveInt = 10000
    train_contamination: Annotated[float, Field(ge=0, lt=1)] = 0.0
    labeled_anomalies: Literal["auto"] | Annotated[int, Field(ge=0)] = "auto"
    anomaly_sampling: Literal["random", "kmeans"] = "kmeans"
    kmeans_clusters: PositiveInt = 10
    val_anomaly_share: Annotated[float, Field(gt=0, lt=1)] | None = None
    test_anomaly_share: Annotated[float, Field(gt=0, lt=1)] | None = None

    @model_validator(mode="after")
    def _disjoint_classes(self) -> ProtocolParams:
        overlap = sorted(set(self.normal_classes) & set(self.anomaly_classes))
        if overlap:
            raise ValueError(
                f"normal_classes and anomaly_classes overlap in {overlap}: a class is either "
                "normal or anomalous, remove it from one list"
            )
        for key in ("normal_classes", "anomaly_classes"):
            values = getattr(self, key)
            if len(set(values)) != len(values):
                raise ValueError(f"{key} lists a class twice: {values}")
        return self


class ThresholdParams(_Section):
    target_fpr: Annotated[float, Field(gt=0, lt=1)] = 0.05
    # "distance": all `report_scores` at least k validation-normal standard deviations above the
    # normal mean, k chosen for validation accuracy. "midpoint": halfway between the mean
    # validation score of normals and of anomalies (the report's VAE rule).
    report_rule: Literal["distance", "midpoint"] = "distance"
    report_scores: list[str] | None = None


class TrainingParams(_Section):
    """What every detector's training shares: optimisation, hardware, seed."""

    seed: int = 42
    lr: PositiveFloat = 1e-4
    weight_decay: Annotated[float, Field(ge=0)] = 1e-5
    batch_size: PositiveInt = 512
    eval_batch_size: PositiveInt = 256
    accelerator: str = "auto"
    devices: PositiveInt | Literal["auto"] = 1
    num_nodes: PositiveInt = 1              # machines, each running `devices` processes (DDP)
    strategy: str = "auto"
    main_score: str
    threshold: ThresholdParams = ThresholdParams()


class AEParams(TrainingParams):
    channels: Annotated[list[PositiveInt], Field(min_length=3, max_length=3)] = [16, 32, 64]
    max_epochs: PositiveInt = 100
    patience: PositiveInt = 3
    kde_bandwidth: Literal["scott", "silverman"] | PositiveFloat = "scott"
    kde_precision: Literal["float32", "float64"] = "float32"
    combine: list[Literal["mse", "kde"]] = ["mse", "kde"]
    main_score: str = "combined"

    @model_validator(mode="after")
    def _scores_exist(self) -> AEParams:
        unsupervised = ("mse", "kde", "combined") if self.combine else ("mse", "kde")
        _check_scores(self, (*unsupervised, "kde_ratio", "mse_gap"))
        return self


def _check_scores(section: TrainingParams, available: tuple[str, ...]) -> None:
    if section.main_score not in available:
        raise ValueError(f"main_score {section.main_score!r} is not one of {list(available)}")
    unknown = [s for s in section.threshold.report_scores or () if s not in available]
    if unknown:
        raise ValueError(f"threshold.report_scores {unknown} are not among {list(available)}")


class VAEParams(TrainingParams):
    channels: Annotated[list[PositiveInt], Field(min_length=2, max_length=2)] = [32, 64]
    latent_dim: PositiveInt = 16
    hidden: PositiveInt = 256              # decoder's linear layer width before reshaping
    beta: Annotated[float, Field(ge=0)] = 1.0
    elbo_samples: NonNegativeInt = 0        # 0: the ELBO at z = mu (deterministic, no extra pass)
    max_epochs: PositiveInt = 100
    patience: PositiveInt = 3
    weight_decay: Annotated[float, Field(ge=0)] = 0.0
    main_score: str = "bce_excess"
    threshold: ThresholdParams = ThresholdParams(report_rule="midpoint")

    @model_validator(mode="after")
    def _scores_exist(self) -> VAEParams:
        _check_scores(self, ("bce", "elbo", "bce_excess", "elbo_excess"))
        return self


class GANWeights(_Section):
    """Loss weights, defaults from Kim et al.'s Table 2."""

    rec: Annotated[float, Field(ge=0)] = 1.5
    patch: Annotated[float, Field(ge=0)] = 1.5
    latent: Annotated[float, Field(ge=0)] = 0.5
    adv: Annotated[float, Field(ge=0)] = 0.5
    anomaly_adv: Annotated[float, Field(ge=0)] = 1.0
    abc: Annotated[float, Field(ge=0)] = 0.5


class PatchParams(_Section):
    size: PositiveInt = 16
    stride: PositiveInt = 8
    top_n: PositiveInt = 3


class GANParams(TrainingParams):
    arch: Literal["report", "paper"] = "paper"
    epochs: PositiveInt = 15
    batch_size: PositiveInt = 64
    eval_batch_size: PositiveInt = 512
    betas: Annotated[list[Annotated[float, Field(ge=0, lt=1)]], Field(min_length=2, max_length=2)] = [0.5, 0.999]
    lr_step: PositiveInt = 50
    augment: bool = False
    weights: GANWeights = GANWeights()
    patch: PatchParams = PatchParams()
    main_score: str = "l1"

    @model_validator(mode="after")
    def _scores_exist(self) -> GANParams:
        _check_scores(self, ("l1", "mse"))
        side = 32 if self.arch == "paper" else 28
        if self.patch.size > side:
            raise ValueError(f"patch.size {self.patch.size} exceeds the {side}px input of arch {self.arch!r}")
        return self


class Params(_Section):
    data: DataParams
    protocol: ProtocolParams
    ae: AEParams
    vae: VAEParams
    gan: GANParams


def _format_errors(err: ValidationError, source: str) -> str:
    lines = [f"{source}: {err.error_count()} invalid parameter(s):"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key (typo?); remove it or use one of the documented keys"
        elif e["type"] == "missing":
            msg = "required key is missing"
        got = e.get("input")
        got_text = f" (got {got!r})" if e["type"] not in ("missing", "extra_forbidden") and not isinstance(got, dict) else ""
        lines.append(f"  - {key}: {msg}{got_text}")
    return "\n".join(lines)


def parse_params(raw: Any, source: str = "params.yaml") -> Params:
    """Validate an already-loaded mapping; raise :class:`ParamsError` listing every problem."""
    if not isinstance(raw, dict):
        raise ParamsError(f"{source}: expected a mapping of sections at the top level, got {type(raw).__name__}")
    try:
        return Params.model_validate(raw)
    except ValidationError as err:
        raise ParamsError(_format_errors(err, source)) from None


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate ``params.yaml``."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: parameters file not found; run from the repository root or pass --params")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {err}") from None
    return parse_params(raw, str(path))
