"""``fmnist-ad score``: score new images with a detector the pipeline trained.

Also reachable as ``python -m fmnist_ad``. Every input is read and checked before any scoring,
so one bad file fails the run with a message naming it (exit code 2) and no output is written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fmnist_ad.detectors import DETECTORS
from fmnist_ad.thresholds import RULES


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="fmnist-ad", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    sc = sub.add_parser(
        "score", help="score images with a trained detector",
        description="Score images with a detector the pipeline trained: one CSV row per image with "
                    "every score, the main score and the chosen rule's verdict (1 = anomalous). "
                    "All inputs are read and checked first; a bad file among good ones fails the "
                    "run before any scoring, with exit code 2 and no output file.")
    sc.add_argument("inputs", nargs="+", type=Path, metavar="INPUT",
                    help="image files (PNG, JPEG, anything Pillow reads; colour becomes grey), folders "
                         "of them, .npy arrays (N, 28, 28) or (N, 1, 28, 28) in uint8 0-255 or float 0-1, "
                         "IDX image files (.gz or not)")
    sc.add_argument("--detector", required=True, choices=list(DETECTORS))
    sc.add_argument("--rule", default="fpr", choices=RULES,
                    help="threshold rule for the verdict (default fpr: the validation false-alarm rate "
                         "params.yaml sets, 5%%)")
    sc.add_argument("--out", type=Path, help="CSV file to write (atomically); default: stdout")
    sc.add_argument("--model-dir", type=Path, help="folder with model.pt (default data/models/DETECTOR)")
    sc.add_argument("--thresholds", type=Path, help="thresholds JSON (default data/thresholds/DETECTOR.json)")
    sc.add_argument("--resize", action="store_true", help="resize images that are not 28x28 (else an error)")
    return ap


def score(args: argparse.Namespace) -> None:
    import pandas as pd

    from fmnist_ad.atomic import atomic_path
    from fmnist_ad.inputs import read_images
    from fmnist_ad.scoring import load_detector
    from fmnist_ad.thresholds import predict

    images = read_images(args.inputs, resize=args.resize)
    detector = load_detector(args.detector, args.model_dir, args.thresholds)
    scores = detector.score_samples(images.pixels)
    table = pd.DataFrame({"source": images.sources, "index": images.indices, **scores})
    table["main_score"] = scores[detector.main_score]
    table[f"anomalous_{args.rule}"] = predict(detector.thresholds[args.rule], scores)
    if args.out:
        with atomic_path(args.out) as tmp:
            table.to_csv(tmp, index=False, float_format="%.9g")
    else:
        table.to_csv(sys.stdout, index=False, float_format="%.9g")
    flagged = int(table[f"anomalous_{args.rule}"].sum())
    print(f"{len(table)} images scored by {args.detector} ({detector.main_score}); {flagged} flagged "
          f"anomalous by the {args.rule} rule", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    from fmnist_ad.pipeline.entry import main as run

    args = _parser().parse_args(argv)
    run(lambda: score(args))
