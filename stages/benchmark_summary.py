"""Stage `summary` of benchmark/dvc.yaml: the cells as metrics/benchmark.json, a Markdown table
beside the published figures, and the per-class figure."""

import argparse
from pathlib import Path

from fmnist_ad.benchmark_summary import write_benchmark
from fmnist_ad.pipeline.entry import main

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("cells", type=Path, help="folder of cell metrics (DETECTOR-CLASS-SEED.json)")
    ap.add_argument("unseen", type=Path, help="folder of the unseen-anomaly setting's cell metrics")
    ap.add_argument("literature", type=Path, help="published per-class AUROC (CSV, in %%)")
    ap.add_argument("out_json", type=Path)
    ap.add_argument("out_md", type=Path)
    ap.add_argument("out_png", type=Path)
    args = ap.parse_args()
    main(lambda: write_benchmark(args.cells, args.unseen, args.literature, args.out_json, args.out_md, args.out_png))
