"""Stage `prepare`: disjoint, imbalance-aware splits + manifest from the raw IDX files."""

import argparse
from pathlib import Path

from fmnist_ad.pipeline.entry import main
from fmnist_ad.pipeline.prepare import run_prepare

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("raw", type=Path, help="folder with the IDX files (download's output)")
    ap.add_argument("out", type=Path, help="folder for splits.npz and manifest.json")
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = ap.parse_args()
    main(lambda: run_prepare(args.params, args.raw, args.out))
