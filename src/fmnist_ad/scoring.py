"""A trained detector with its fitted thresholds, ready for new images: ``load_detector``.

The detector comes from the pipeline's checkpoint (``data/models/M/model.pt``, which stores the
params section it was trained with) and the thresholds from ``data/thresholds/M.json``, which
records the checkpoint's SHA-256, so thresholds fitted on another training run are refused.
"""

from __future__ import annotations

import json
from pathlib import Path

from fmnist_ad.detectors import DETECTORS, detector_class
from fmnist_ad.detectors.base import CheckpointError, Detector
from fmnist_ad.params.sections import DetectorParams
from fmnist_ad.pipeline.score import file_sha256


def load_detector(name: str, model_dir: str | Path | None = None, thresholds: str | Path | None = None,
                  params: DetectorParams | None = None) -> Detector:
    """The detector ``name`` as the pipeline trained it, with its thresholds attached.

    ``model_dir`` defaults to ``data/models/NAME`` and ``thresholds`` to
    ``data/thresholds/NAME.json``; ``params`` defaults to the section stored in the checkpoint.
    """
    if name not in DETECTORS:
        raise CheckpointError(f"unknown detector {name!r}; use one of {list(DETECTORS)}")
    model_dir = Path(model_dir or f"data/models/{name}")
    thresholds_path = Path(thresholds or f"data/thresholds/{name}.json")
    checkpoint = model_dir / "model.pt"
    if not thresholds_path.is_file():
        raise CheckpointError(f"{thresholds_path}: thresholds missing; run `dvc repro threshold@{name}` "
                              "or pass --thresholds")
    try:
        fitted = json.loads(thresholds_path.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{thresholds_path}: not a thresholds JSON ({err})") from None
    if not isinstance(fitted, dict) or fitted.get("model") != name:
        other = fitted.get("model") if isinstance(fitted, dict) else None
        raise CheckpointError(f"{thresholds_path}: thresholds of detector {other!r}, not {name!r}; "
                              f"pass data/thresholds/{name}.json")
    detector = detector_class(name).load(checkpoint, params)
    if fitted.get("checkpoint_sha256") != file_sha256(checkpoint):
        raise CheckpointError(f"{thresholds_path}: fitted on the scores of another training run than "
                              f"{checkpoint}; rerun `dvc repro threshold@{name}` or pass the matching "
                              "--thresholds")
    detector.thresholds = fitted
    return detector
