"""The sections of ``params.yaml`` that every stage shares (data, protocol) and the base of every
detector's own section (:class:`TrainingParams`, one module per detector beside this one);
:mod:`fmnist_ad.params` puts them together."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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
ClassId = Annotated[int, Field(ge=0, lt=NUM_CLASSES)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataParams(Section):
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


class ProtocolParams(Section):
    seed: int = 42
    normal_classes: Annotated[list[ClassId], Field(min_length=1)]
    anomaly_classes: Annotated[list[ClassId], Field(min_length=1)]
    val_size: PositiveInt = 10000
    train_contamination: Annotated[float, Field(ge=0, lt=1)] = 0.0
    labeled_anomalies: Literal["auto"] | Annotated[int, Field(ge=0)] = "auto"
    anomaly_sampling: Literal["random", "kmeans"] = "kmeans"
    #: the anomaly classes the labeled anomalies (and validation's anomalies) come from; None:
    #: all of ``anomaly_classes`` (Kim et al.'s protocol). A subset is the unseen-anomaly
    #: protocol: test still holds every anomaly class, and the others are reported apart.
    labeled_classes: list[ClassId] | None = None
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
        for key in ("normal_classes", "anomaly_classes", "labeled_classes"):
            values = getattr(self, key) or []
            if len(set(values)) != len(values):
                raise ValueError(f"{key} lists a class twice: {values}")
        if self.labeled_classes is not None:
            foreign = sorted(set(self.labeled_classes) - set(self.anomaly_classes))
            if foreign or not self.labeled_classes:
                raise ValueError(f"labeled_classes must be a non-empty subset of anomaly_classes "
                                 f"{self.anomaly_classes} (not in it: {foreign}); use null for all")
        return self

    @property
    def seen_classes(self) -> list[int]:
        """The anomaly classes that training and validation may show (labeled anomalies)."""
        return self.anomaly_classes if self.labeled_classes is None else self.labeled_classes

    @property
    def unseen_classes(self) -> list[int]:
        """Anomaly classes that only the test split holds (empty under Kim et al.'s protocol)."""
        return [c for c in self.anomaly_classes if c not in self.seen_classes]


class ThresholdParams(Section):
    target_fpr: Annotated[float, Field(gt=0, lt=1)] = 0.05
    # "distance": all `report_scores` at least k validation-normal standard deviations above the
    # normal mean, k chosen for validation accuracy. "midpoint": halfway between the mean
    # validation score of normals and of anomalies (the report's VAE rule).
    report_rule: Literal["distance", "midpoint"] = "distance"
    report_scores: list[str] | None = None


class DetectorParams(Section):
    """What every detector's section shares: its seed, its scores and threshold rules."""

    seed: int = 42
    main_score: str
    threshold: ThresholdParams = ThresholdParams()

    #: the per-image scores the detector writes, in table column order
    score_names: ClassVar[tuple[str, ...]] = ()
    #: scores that use the labels of training images (written only where a protocol labels
    #: training anomalies); every other score is unsupervised
    labeled_score_names: ClassVar[tuple[str, ...]] = ()
    #: controls: scores that leave the model out (the GAN's kNN gap on the pixels alone), shown
    #: beside the main score in the ten-class table so that it tells what the model adds
    control_score_names: ClassVar[tuple[str, ...]] = ()

    def available_scores(self) -> tuple[str, ...]:
        """The scores ``main_score`` and ``threshold.report_scores`` may name."""
        return tuple(dict.fromkeys((*self.score_names, *self.labeled_score_names)))

    @model_validator(mode="after")
    def _scores_exist(self) -> DetectorParams:
        available = self.available_scores()
        if self.main_score not in available:
            raise ValueError(f"main_score {self.main_score!r} is not one of {list(available)}")
        unknown = [s for s in self.threshold.report_scores or () if s not in available]
        if unknown:
            raise ValueError(f"threshold.report_scores {unknown} are not among {list(available)}")
        return self


class TrainingParams(DetectorParams):
    """What every network detector's training shares: length, optimisation and hardware."""

    epochs: PositiveInt = 100               # the most epochs (AE and VAE may stop earlier: patience)
    lr: PositiveFloat = 1e-4
    weight_decay: Annotated[float, Field(ge=0)] = 1e-5
    batch_size: PositiveInt = 512
    eval_batch_size: PositiveInt = 256
    accelerator: str = "auto"
    devices: PositiveInt | Literal["auto"] = 1
    num_nodes: PositiveInt = 1              # machines, each running `devices` processes (DDP)
    strategy: str = "auto"

    @model_validator(mode="before")
    @classmethod
    def _renamed_keys(cls, data: object) -> object:
        if isinstance(data, dict) and "max_epochs" in data:
            raise ValueError("max_epochs is now called epochs (the most epochs; patience may stop "
                             "training earlier), as for the GAN: rename the key")
        return data
