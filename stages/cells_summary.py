"""Stage `summary` of protocols/dvc.yaml: every cell's metrics as means and spreads over seeds,
and the GAN ablation's figure."""

import argparse
from pathlib import Path

from fmnist_ad.cells_summary import write_summary
from fmnist_ad.pipeline.entry import main

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("cells", type=Path, help="folder of cell metrics (PROTOCOL-DETECTOR-SEED.json)")
    ap.add_argument("out_json", type=Path)
    ap.add_argument("out_md", type=Path)
    ap.add_argument("out_png", type=Path, help="the GAN ablation's figure")
    args = ap.parse_args()
    main(lambda: write_summary(args.cells, args.out_json, args.out_md, args.out_png))
