"""Stage `train@MODEL`: train one detector; keep its best checkpoint, curves and a run summary."""

import argparse
from pathlib import Path

from fmnist_ad.pipeline.entry import main
from fmnist_ad.pipeline.train import run_train

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("model", help="detector name = params.yaml section (ae, vae, gan)")
    ap.add_argument("prepared", type=Path, help="prepare's output folder")
    ap.add_argument("model_dir", type=Path, help="folder for model.pt and Lightning checkpoints")
    ap.add_argument("log_dir", type=Path, help="folder for DVCLive training curves")
    ap.add_argument("info", type=Path, help="JSON summary of the run (epochs, time, device)")
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = ap.parse_args()
    main(lambda: run_train(args.params, args.model, args.prepared, args.model_dir, args.log_dir, args.info))
