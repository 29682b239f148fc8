"""Detectors: each a folder with a plain torch model, a Lightning module that trains it, its loss
and a :class:`~fmnist_ad.detectors.base.Detector` that ties them to the pipeline
(``<name>/detector.py``); its ``params.yaml`` section's schema is ``fmnist_ad/params/<name>.py``.

:data:`DETECTORS` is the registry: a detector's name is its folder, its params module and section,
and its item in ``dvc.yaml``'s detector list.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fmnist_ad.detectors.base import Detector
    from fmnist_ad.params.sections import TrainingParams

#: name -> (its params section class in ``fmnist_ad/params/<name>.py``, its Detector class in
#: ``<name>/detector.py``)
DETECTORS: dict[str, tuple[str, str]] = {
    "ae": ("AEParams", "AEDetector"),
    "vae": ("VAEParams", "VAEDetector"),
    "gan": ("GANParams", "GANDetector"),
}


def _entry(name: str) -> tuple[str, str]:
    if name not in DETECTORS:
        raise KeyError(f"unknown detector {name!r}; known: {sorted(DETECTORS)}")
    return DETECTORS[name]


def params_class(name: str) -> type[TrainingParams]:
    """The schema of detector ``name``'s params section (no torch import: every stage validates
    every section before any work)."""
    return getattr(import_module(f"fmnist_ad.params.{name}"), _entry(name)[0])


def detector_class(name: str) -> type[Detector]:
    """The detector registered under ``name``, imported lazily so that a stage pays only for
    the detector it runs."""
    return getattr(import_module(f"{__name__}.{name}.detector"), _entry(name)[1])
