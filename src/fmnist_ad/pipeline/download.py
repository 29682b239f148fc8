"""Stage `download`."""

from __future__ import annotations

import logging
from pathlib import Path

from fmnist_ad.download import fetch
from fmnist_ad.params import load_params

log = logging.getLogger("fmnist_ad")


def run_download(params_path: Path, out_dir: Path) -> None:
    params = load_params(params_path)
    origin = fetch(params.data, out_dir)
    log.info("FashionMNIST verified and written to %s (from %s)", out_dir, origin)
