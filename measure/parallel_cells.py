"""What running a sweep's cells side by side buys: `python measure/parallel_cells.py`.

Runs the same cells of a sweep (default: the ten-class benchmark's AE cells) once per ``--jobs``
value through ``make cells ... FORCE=1`` (DVC reruns and records each cell; JOBS cells at a time,
each with cores/JOBS torch threads) and prints each run's wall time beside the sum of its cells'
own times, and whether every cell's metrics equal the first run's (timings aside). Run it on an
idle machine: another heavy process beside it changes both figures. The cells' records in the
pipeline's dvc.lock are the last run's. ``--json`` keeps the rows.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
#: keys of a cell's metrics that are times, not results
TIMINGS = ("train_seconds", "cell_seconds")


def cell_metrics(pipeline: Path, pattern: str) -> dict[str, dict[str, Any]]:
    """Stage name -> its metrics JSON, for the recorded stages of ``pipeline`` matching ``pattern``."""
    lock = yaml.safe_load((pipeline.parent / "dvc.lock").read_text())["stages"]
    found = {}
    for stage, entry in lock.items():
        if re.search(pattern, stage):
            (path,) = [o["path"] for o in entry["outs"] if o["path"].startswith("metrics/")]
            found[stage] = json.loads((REPO / path).read_text())
    return found


def differences(a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]]) -> dict[str, list[Any]]:
    """``cell:key`` -> [a's value, b's value] where two runs disagree, timings aside."""
    if a.keys() != b.keys():
        return {cell: [cell in a, cell in b] for cell in sorted(a.keys() ^ b.keys())}
    return {f"{cell}:{k}": [a[cell].get(k), b[cell].get(k)] for cell in a for k in sorted(a[cell].keys() | b[cell].keys())
            if k not in TIMINGS and a[cell].get(k) != b[cell].get(k)}


def run_cells(pipeline: str, pattern: str, jobs: int) -> float:
    """Wall seconds of ``make cells`` over the cells matching ``pattern``, all rerun, ``jobs`` at a time."""
    start = time.perf_counter()
    subprocess.run(["make", "-s", "cells", f"PIPELINE={pipeline}", f"CELLS={pattern}", f"JOBS={jobs}", "FORCE=1"],
                   cwd=REPO, check=True)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pipeline", default="benchmark/dvc.yaml")
    ap.add_argument("--cells", default="@ae-", help="regex (grep -E) of the stage names to run")
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--json", type=Path, help="also write the rows here")
    args = ap.parse_args(argv)
    rows, first = [], None
    for jobs in args.jobs:
        wall = run_cells(args.pipeline, args.cells, jobs)
        metrics = cell_metrics(REPO / args.pipeline, args.cells)
        first = first or metrics
        rows.append({"jobs": jobs, "cells": len(metrics), "wall_s": round(wall, 1),
                     "cells_sum_s": round(sum(m["cell_seconds"] for m in metrics.values()), 1),
                     "differs_from_first": differences(first, metrics)})
    print(f"{args.pipeline} cells matching {args.cells!r} on {os.cpu_count()} cores, every cell rerun through DVC")
    print(f"{'jobs':>4} {'cells':>5} {'wall s':>8} {'sum of cells s':>15} {'speed-up':>8}  results")
    for row in rows:
        diff = row["differs_from_first"]
        gaps = [abs(x - y) for x, y in diff.values() if isinstance(x, float) and isinstance(y, float)]
        same = "same as first" if not diff else (f"{len(diff)} values differ (max |diff| {max(gaps, default=0):.1e}): "
                                                 f"{', '.join(list(diff)[:4])}")
        print(f"{row['jobs']:>4} {row['cells']:>5} {row['wall_s']:>8.1f} {row['cells_sum_s']:>15.1f} "
              f"{rows[0]['wall_s'] / row['wall_s']:>8.2f}  {same}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
