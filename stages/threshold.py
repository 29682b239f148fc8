"""Stage `threshold@MODEL`: fit the three threshold rules on validation scores only."""

import argparse
from pathlib import Path

from fmnist_ad.pipeline.entry import main
from fmnist_ad.pipeline.threshold import run_threshold

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("detector", help="detector name = params.yaml section (ae, vae, gan, knn, iforest, gbt)")
    ap.add_argument("scores", type=Path, help="score's output folder (only val.csv is read)")
    ap.add_argument("out", type=Path, help="thresholds JSON")
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = ap.parse_args()
    main(lambda: run_threshold(args.params, args.detector, args.scores, args.out))
