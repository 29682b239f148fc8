"""Stage `prepare`."""

from __future__ import annotations

import logging
from pathlib import Path

from fmnist_ad.params import load_params
from fmnist_ad.prepare import prepare

log = logging.getLogger("fmnist_ad")


def run_prepare(params_path: Path, raw_dir: Path, out_dir: Path) -> None:
    params = load_params(params_path)
    splits = prepare(raw_dir, out_dir, params.protocol)
    for name, s in splits.items():
        log.info("%s: %d images (%d normal, %d anomalous)", name, len(s.index),
                 int((s.labels == 0).sum()), int(s.labels.sum()))
