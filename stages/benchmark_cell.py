"""Stage `cell@DETECTOR-CLASS-SEED` of benchmark/dvc.yaml: one detector with one FashionMNIST
class as the normal class, trained, scored, thresholded on validation and evaluated on test
(``--unseen``: with labeled anomalies of one class, scored also on the eight others apart)."""

import argparse
import time
from pathlib import Path

from fmnist_ad.atomic import write_json
from fmnist_ad.benchmark import benchmark_params
from fmnist_ad.cells import run_cell
from fmnist_ad.detectors import detector_class
from fmnist_ad.pipeline.entry import main


def run(args: argparse.Namespace) -> None:
    params = benchmark_params(args.params, args.settings, args.detector, args.normal_class, args.seed,
                              args.unseen)
    start = time.perf_counter()
    result = run_cell(params, args.detector, args.raw, args.out, args.metrics)
    detector = detector_class(args.detector)
    labeled = [s for s in detector.labeled_score_names if f"auroc_{s}" in result]
    # the first score is the one of the method the detector reproduces (the report's, the paper's)
    write_json(args.metrics, {**result, "labeled_scores": labeled, "published_score": detector.score_names[0],
                              "cell_seconds": round(time.perf_counter() - start, 1)})


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("detector", help="params.yaml section (ae, vae, gan)")
    ap.add_argument("normal_class", type=int, help="the normal class (0-9); the nine others are anomalous")
    ap.add_argument("seed", type=int, help="replaces protocol.seed and the detector's seed")
    ap.add_argument("raw", type=Path, help="folder with the IDX files (download's output)")
    ap.add_argument("out", type=Path, help="folder for the manifest, score tables and thresholds")
    ap.add_argument("metrics", type=Path, help="the cell's metrics JSON")
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--settings", type=Path, default=Path("benchmark/settings.yaml"))
    ap.add_argument("--unseen", action="store_true",
                    help="the unseen-anomaly setting: labeled anomalies of the next class id only")
    main(lambda: run(ap.parse_args()))
