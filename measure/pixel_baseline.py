"""What the GAN adds over its own labeled anomalies: `python measure/pixel_baseline.py`.

The GAN's main score, ``knn_gap``, compares an image with the training normals and the labeled
anomalies. This script scores the same validation images with the same gap on the **pixels
alone** (no network): unit-length images, and unit-length images after a 0.25 power (which
lifts faint ink, where collars and sleeves differ). It prints the validation AUROC of each,
overall and against shirts (the class that keeps the GAN under 0.99), beside the committed GAN
protocol cell's validation ``knn_gap`` (``data/protocols/P-gan-S/val.csv``) for the same splits.

Validation only: the test split is read by the pipeline's evaluation alone. Nothing the pipeline
writes is changed; `--json` keeps the rows.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

from fmnist_ad.cells import cell_params
from fmnist_ad.detectors.gan.knn_gap import KNNGap
from fmnist_ad.idx import read_split
from fmnist_ad.prepare import Split, build_splits

SHIRT = 6
#: pixel vectors compared, each scaled to unit length (the image half of ``GANModel.knn_features``)
VECTORS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "pixels": lambda x: F.normalize(x, dim=1),
    "pixels_pow025": lambda x: F.normalize(x.pow(0.25), dim=1),
}


def _flat(split: Split) -> torch.Tensor:
    return torch.as_tensor(split.images, dtype=torch.float32).reshape(len(split.images), -1) / 255


def _aurocs(labels: np.ndarray, classes: np.ndarray, normal: int, scores: np.ndarray) -> tuple[float, float]:
    """AUROC over all validation images, and over the normals and shirts only."""
    pair = (classes == normal) | (classes == SHIRT)
    return float(roc_auc_score(labels, scores)), float(roc_auc_score(labels[pair], scores[pair]))


def rows_for(params_path: Path, presets: Path, raw: Path, cells: Path, protocol: str, seed: int) -> dict[str, Any]:
    """One (protocol, seed): the splits a GAN cell builds, each pixel gap's validation AUROC and
    the cell's own (None where the cell has not run)."""
    params = cell_params(params_path, presets, protocol, "gan", seed)
    splits = build_splits(*read_split(raw, "train"), *read_split(raw, "t10k"), params.protocol)
    val = splits["val"]
    normal = params.protocol.normal_classes[0]
    row: dict[str, Any] = {"protocol": protocol, "seed": seed}
    train, labeled, queries = _flat(splits["train"]), _flat(splits["labeled"]), _flat(val)
    for name, vectors in VECTORS.items():
        gap = KNNGap(params.gan.knn_k).fit(vectors(train), vectors(labeled))
        row[name], row[f"{name}_shirt"] = _aurocs(val.labels, val.classes, normal, gap.score(vectors(queries)).numpy())
    table = cells / f"{protocol}-gan-{seed}" / "val.csv"
    row["gan_knn_gap"] = row["gan_knn_gap_shirt"] = None
    if table.is_file():
        cell = pd.read_csv(table)
        if not np.array_equal(cell["index"].to_numpy(), val.index):
            raise SystemExit(f"{table}: not the validation split this script builds; rerun the cell")
        row["gan_knn_gap"], row["gan_knn_gap_shirt"] = _aurocs(val.labels, val.classes, normal, cell["knn_gap"].to_numpy())
    return row


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--presets", type=Path, default=Path("protocols/presets"))
    ap.add_argument("--raw", type=Path, default=Path("data/raw"))
    ap.add_argument("--cells", type=Path, default=Path("data/protocols"), help="the GAN protocol cells' outputs")
    ap.add_argument("--protocols", nargs="+", default=["tshirt", "tshirt_balanced"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[42, 7, 1])
    ap.add_argument("--json", type=Path, help="also write the rows here")
    args = ap.parse_args(argv)
    rows = [rows_for(args.params, args.presets, args.raw, args.cells, p, s) for p in args.protocols for s in args.seeds]
    columns = ["gan_knn_gap", *VECTORS]
    print("validation AUROC (against shirts)   " + "   ".join(f"{c:>20s}" for c in columns))
    for r in rows:
        cells = [("-" if r[c] is None else f"{r[c]:.4f} ({r[c + '_shirt']:.3f})") for c in columns]
        print(f"{r['protocol']:>20s} seed {r['seed']:>3d}  " + "   ".join(f"{c:>20s}" for c in cells))
    result = {"rows": rows}
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
