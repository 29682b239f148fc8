"""measure/pixel_baseline.py on a tiny synthetic mirror: the pixel gaps score the splits a GAN
cell builds, and a committed cell's table is read only when it is that cell's validation split."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO, small_params
from fmnist_ad.cells import cell_params
from fmnist_ad.idx import encode_idx, read_split
from fmnist_ad.prepare import build_splits
from sandbox import synthetic_images

sys.path.insert(0, str(REPO / "measure"))
import pixel_baseline  # noqa: E402 (measure/pixel_baseline.py, a script)


@pytest.fixture
def project(tmp_path: Path, mirror: tuple[Path, dict[str, str]]) -> Path:
    raw = tmp_path / "raw"
    raw.mkdir()
    for prefix, per_class, seed in (("train", 30, 0), ("t10k", 10, 1)):
        classes = np.tile(np.arange(10, dtype=np.uint8), per_class)
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(encode_idx(synthetic_images(classes, seed)))
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(encode_idx(classes))
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(small_params(*mirror)))
    return tmp_path


def _args(project: Path) -> list[str]:
    return ["--params", str(project / "params.yaml"), "--presets", str(REPO / "protocols/presets"),
            "--raw", str(project / "raw"), "--cells", str(project / "cells"), "--protocols", "tshirt", "--seeds", "3"]


def _val(project: Path):
    params = cell_params(project / "params.yaml", REPO / "protocols/presets", "tshirt", "gan", 3)
    return build_splits(*read_split(project / "raw", "train"), *read_split(project / "raw", "t10k"), params.protocol)["val"]


def test_pixel_gaps_without_and_with_a_cell(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (row,) = pixel_baseline.main([*_args(project), "--json", str(project / "rows.json")])["rows"]
    for name in pixel_baseline.VECTORS:
        assert 0.0 <= row[name] <= 1.0 and 0.0 <= row[f"{name}_shirt"] <= 1.0
    assert row["gan_knn_gap"] is None and "-" in capsys.readouterr().out

    val = _val(project)
    cell = project / "cells" / "tshirt-gan-3"
    cell.mkdir(parents=True)
    # a cell table whose knn_gap is the label itself: AUROC 1 overall and against shirts
    pd.DataFrame({"index": val.index, "class": val.classes, "label": val.labels,
                  "knn_gap": val.labels.astype(float)}).to_csv(cell / "val.csv", index=False)
    (row,) = pixel_baseline.main(_args(project))["rows"]
    assert row["gan_knn_gap"] == 1.0 and row["gan_knn_gap_shirt"] == 1.0


def test_a_cell_of_other_splits_is_refused(project: Path) -> None:
    val = _val(project)
    cell = project / "cells" / "tshirt-gan-3"
    cell.mkdir(parents=True)
    pd.DataFrame({"index": val.index[::-1], "knn_gap": 0.0}).to_csv(cell / "val.csv", index=False)
    with pytest.raises(SystemExit, match="not the validation split"):
        pixel_baseline.main(_args(project))
