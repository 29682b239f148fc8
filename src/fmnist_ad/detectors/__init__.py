"""Detectors: each a plain torch model, a Lightning module that trains it, its loss, and a
:class:`~fmnist_ad.detectors.base.Detector` that ties them to the pipeline."""

from __future__ import annotations

from fmnist_ad.detectors.base import Detector


def detector_class(name: str) -> type[Detector]:
    """The detector registered under ``name`` (the `dvc.yaml` foreach item and params section)."""
    from fmnist_ad.detectors.ae import AEDetector

    registry: dict[str, type[Detector]] = {"ae": AEDetector}
    try:
        from fmnist_ad.detectors.vae import VAEDetector
        registry["vae"] = VAEDetector
    except ImportError:
        pass
    try:
        from fmnist_ad.detectors.gan import GANDetector
        registry["gan"] = GANDetector
    except ImportError:
        pass
    if name not in registry:
        raise KeyError(f"unknown detector {name!r}; known: {sorted(registry)}")
    return registry[name]
