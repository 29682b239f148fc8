"""Stage `download`: verified FashionMNIST IDX files into OUT (mirrors first, then official)."""

import argparse
from pathlib import Path

from fmnist_ad.pipeline.entry import main
from fmnist_ad.pipeline.download import run_download

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out", type=Path, help="folder for the four decompressed IDX files")
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = ap.parse_args()
    main(lambda: run_download(args.params, args.out))
