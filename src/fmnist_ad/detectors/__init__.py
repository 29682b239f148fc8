"""Detectors: each a plain torch model, a Lightning module that trains it, its loss, and a
:class:`~fmnist_ad.detectors.base.Detector` that ties them to the pipeline."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fmnist_ad.detectors.base import Detector


def detector_class(name: str) -> type[Detector]:
    """The detector registered under ``name`` (the `dvc.yaml` foreach item and params section).

    Imported lazily so that a stage pays only for the detector it runs.
    """
    if name == "ae":
        from fmnist_ad.detectors.ae import AEDetector as cls
    elif name == "vae":
        from fmnist_ad.detectors.vae import VAEDetector as cls
    elif name == "gan":
        from fmnist_ad.detectors.gan import GANDetector as cls
    else:
        raise KeyError(f"unknown detector {name!r}; known: ['ae', 'gan', 'vae']")
    return cls
