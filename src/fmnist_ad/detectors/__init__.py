"""Detectors: each a folder whose ``<name>/detector.py`` holds the
:class:`~fmnist_ad.detectors.base.Detector` that ties it to the pipeline; its ``params.yaml``
section's schema is ``fmnist_ad/params/<name>.py``. The networks (ae, vae, gan) keep a plain torch
model, a Lightning module that trains it and its loss beside it; the baselines (knn, iforest,
gbt) wrap an off-the-shelf estimator on pixels (:mod:`fmnist_ad.detectors.pixels`).

:data:`DETECTORS` is the registry: a detector's name is its folder, its params module and section,
and its item in ``dvc.yaml``'s detector list.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fmnist_ad.detectors.base import Detector
    from fmnist_ad.params.sections import DetectorParams

#: name -> (its params section class in ``fmnist_ad/params/<name>.py``, its Detector class in
#: ``<name>/detector.py``)
DETECTORS: dict[str, tuple[str, str]] = {
    "ae": ("AEParams", "AEDetector"),
    "vae": ("VAEParams", "VAEDetector"),
    "gan": ("GANParams", "GANDetector"),
    "knn": ("KNNParams", "KNNDetector"),
    "iforest": ("IForestParams", "IForestDetector"),
    "gbt": ("GBTParams", "GBTDetector"),
}
#: the baselines among them: fitted in one call by the `fit` stage, no training curves
BASELINES = ("knn", "iforest", "gbt")
#: the networks: trained with Lightning by the `train` stage
NETWORKS = tuple(name for name in DETECTORS if name not in BASELINES)


def _entry(name: str) -> tuple[str, str]:
    if name not in DETECTORS:
        raise KeyError(f"unknown detector {name!r}; known: {sorted(DETECTORS)}")
    return DETECTORS[name]


def params_class(name: str) -> type[DetectorParams]:
    """The schema of detector ``name``'s params section (no torch import: every stage validates
    every section before any work)."""
    return getattr(import_module(f"fmnist_ad.params.{name}"), _entry(name)[0])


def detector_class(name: str) -> type[Detector]:
    """The detector registered under ``name``, imported lazily so that a stage pays only for
    the detector it runs."""
    return getattr(import_module(f"{__name__}.{name}.detector"), _entry(name)[1])
