"""Stage `ae@PROTOCOL-SEED` etc. of protocols/dvc.yaml: one detector under one named protocol and
seed, trained, scored, thresholded on validation and evaluated on test."""

import argparse
from pathlib import Path

from fmnist_ad.cells import cell_params, run_cell
from fmnist_ad.pipeline.entry import main

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("detector", help="params.yaml section (ae, vae, gan)")
    ap.add_argument("protocol", help="a preset: PRESETS/PROTOCOL.yaml")
    ap.add_argument("seed", type=int, help="replaces protocol.seed and the detector's seed")
    ap.add_argument("raw", type=Path, help="folder with the IDX files (download's output)")
    ap.add_argument("out", type=Path, help="folder for the manifest, score tables and thresholds")
    ap.add_argument("metrics", type=Path, help="the cell's metrics JSON")
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--presets", type=Path, default=Path("protocols/presets"), help="folder of presets")
    args = ap.parse_args()
    main(lambda: run_cell(cell_params(args.params, args.presets, args.protocol, args.detector, args.seed),
                          args.detector, args.raw, args.out, args.metrics))
