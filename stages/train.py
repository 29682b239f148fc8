"""Stage `train@DETECTOR` (a network: best checkpoint, curves, run summary) or `fit@DETECTOR` (a
baseline: the fitted estimator and run summary)."""

import argparse
from pathlib import Path

from fmnist_ad.pipeline.entry import main
from fmnist_ad.pipeline.train import run_train

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("detector", help="detector name = params.yaml section (ae, vae, gan, knn, iforest, gbt)")
    ap.add_argument("prepared", type=Path, help="prepare's output folder")
    ap.add_argument("model_dir", type=Path, help="folder for model.pt")
    ap.add_argument("info", type=Path, help="JSON record of the run (epochs, time, device)")
    ap.add_argument("--curves", type=Path, help="networks: folder for the DVCLive training curves")
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = ap.parse_args()
    main(lambda: run_train(args.params, args.detector, args.prepared, args.model_dir, args.info, args.curves))
