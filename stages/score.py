"""Stage `score@MODEL`: per-image anomaly scores of the validation and test splits."""

import argparse
from pathlib import Path

from fmnist_ad.pipeline.entry import main
from fmnist_ad.pipeline.score import run_score

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("detector", help="detector name = params.yaml section (ae, vae, gan, knn, iforest, gbt)")
    ap.add_argument("prepared", type=Path)
    ap.add_argument("model_dir", type=Path)
    ap.add_argument("out", type=Path, help="folder for val.csv, test.csv and example reconstructions")
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = ap.parse_args()
    main(lambda: run_score(args.params, args.detector, args.prepared, args.model_dir, args.out))
