"""Stage `compare`: every detector's metrics in one summary (JSON + Markdown) and comparison figures."""

import argparse
from pathlib import Path

from fmnist_ad.pipeline.entry import main
from fmnist_ad.compare import write_comparison
from fmnist_ad.params import load_params

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", nargs="+", required=True, help="dvc.yaml passes its detector list")
    ap.add_argument("--root", type=Path, default=Path("."), help="project root holding data/, metrics/, plots/")
    ap.add_argument("--out-json", type=Path, default=Path("metrics/summary.json"))
    ap.add_argument("--out-md", type=Path, default=Path("metrics/summary.md"))
    ap.add_argument("--figures", type=Path, default=Path("plots/compare"))
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = ap.parse_args()
    main(lambda: write_comparison(args.root, args.models, args.out_json, args.out_md, args.figures,
                                  load_params(args.params).protocol.unseen_classes))
