"""The ten-class benchmark's cells (``benchmark/dvc.yaml``): every detector with each FashionMNIST
class as the normal class in turn; their table is :mod:`fmnist_ad.benchmark_summary`.

A benchmark cell is a :mod:`fmnist_ad.cells` cell whose protocol is "class ``c`` normal, the nine
others anomalous" (every other protocol key, e.g. the GAN's k-means labeled anomalies, is
``params.yaml``'s) and whose detector section is overridden by the benchmark's budget
(``benchmark/settings.yaml``). Its unseen-anomaly setting labels anomalies of one class only.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from fmnist_ad.cells import PresetError, merge
from fmnist_ad.params import ParamsError, Params, parse_params
from fmnist_ad.params.sections import NUM_CLASSES

def next_class(normal_class: int) -> int:
    """The unseen-anomaly setting's one labeled class for ``normal_class``: the next class id."""
    return (normal_class + 1) % NUM_CLASSES


def benchmark_params(params_path: Path, settings_path: Path, detector: str, normal_class: int,
                     seed: int, unseen: bool = False) -> Params:
    """``params.yaml`` with the benchmark's budget for ``detector``, class ``normal_class`` normal
    (the nine others anomalous) and the cell's seed for the splits and the detector. ``unseen``:
    the unseen-anomaly setting, labeled (and validation) anomalies of :func:`next_class` only."""
    if not 0 <= normal_class < NUM_CLASSES:
        raise ParamsError(f"normal class {normal_class} is not a FashionMNIST class (0-9)")
    settings = yaml.safe_load(Path(settings_path).read_text()) if Path(settings_path).is_file() else None
    if not isinstance(settings, dict) or not isinstance(settings.get(detector), dict):
        raise PresetError(f"{settings_path}: needs a mapping `{detector}:` of overrides of "
                          f"params.yaml's {detector} section (the benchmark's budget)")
    raw = yaml.safe_load(Path(params_path).read_text())
    if detector not in raw or not isinstance(raw[detector], dict):
        raise ParamsError(f"unknown detector {detector!r}: params.yaml has no such section")
    others = [c for c in range(NUM_CLASSES) if c != normal_class]
    protocol = {"normal_classes": [normal_class], "anomaly_classes": others, "seed": seed,
                "labeled_classes": [next_class(normal_class)] if unseen else None}
    merged = merge(raw, {detector: {**settings[detector], "seed": seed}, "protocol": protocol})
    return parse_params(merged, f"{params_path} + {settings_path}:{detector} (class {normal_class}, seed {seed})")
