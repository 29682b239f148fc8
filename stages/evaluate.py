"""Stage `evaluate@MODEL`: test metrics from continuous scores and each threshold rule, and curves."""

import argparse
from pathlib import Path

from fmnist_ad.pipeline.entry import main
from fmnist_ad.pipeline.evaluate import run_evaluate

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("detector", help="detector name = params.yaml section (ae, vae, gan, knn, iforest, gbt)")
    ap.add_argument("scores", type=Path)
    ap.add_argument("thresholds", type=Path)
    ap.add_argument("metrics", type=Path)
    ap.add_argument("plots", type=Path)
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = ap.parse_args()
    main(lambda: run_evaluate(args.params, args.detector, args.scores, args.thresholds, args.metrics, args.plots))
