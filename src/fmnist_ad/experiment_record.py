"""A DVC experiment kept in git beside the default run: ``python -m fmnist_ad.experiment_record``.

``dvc exp run`` keeps its results under a git ref that ``dvc exp gc`` may delete and that a clone
does not fetch. This copies the record that answers the experiment's question into
``metrics/experiments/NAME/`` (the detector's test metrics, its run record and its validation
curves, read from the experiment's commit with ``git show``) and writes
``metrics/experiments/NAME.md``, a table of that run beside the committed default run, and
``plots/experiments/NAME.png``, both validation curves: what the README shows, rendered from files.
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd

from fmnist_ad.atomic import atomic_dir, write_text
from fmnist_ad.compare import markdown_table
from fmnist_ad.errors import UserError
from fmnist_ad.figures import write_figure

#: validation curves DVCLive writes for a network (``plots/training/DETECTOR/plots/metrics/val``)
CURVES = ("auroc", "auroc_l1")


class ExperimentError(UserError, ValueError):
    """The experiment named is not in this repository."""


def experiment_rev(name: str, root: Path = Path(".")) -> str:
    """The commit of DVC experiment ``name`` (its ref ``refs/exps/.../NAME``)."""
    refs = subprocess.run(["git", "for-each-ref", "--format=%(objectname) %(refname)", "refs/exps"],
                          cwd=root, capture_output=True, text=True, check=True).stdout.split("\n")
    found = [line.split()[0] for line in refs if line.endswith(f"/{name}")]
    if len(found) != 1:
        raise ExperimentError(f"{len(found)} experiments named {name!r}; see `dvc exp list` "
                              "(run it with `dvc exp run -n NAME ...`)")
    return found[0]


def read_at(rev: str, path: str, root: Path = Path(".")) -> str:
    return subprocess.run(["git", "show", f"{rev}:{path}"], cwd=root, capture_output=True, text=True,
                          check=True).stdout


def run_files(detector: str) -> dict[str, str]:
    """Record file name -> path in the repository, for one detector's run."""
    curves = f"plots/training/{detector}/plots/metrics/val"
    return {"metrics.json": f"metrics/{detector}.json", "training.json": f"metrics/training/{detector}.json",
            **{f"val_{c}.tsv": f"{curves}/{c}.tsv" for c in CURVES}}


def keep(name: str, detector: str, out: Path, root: Path = Path(".")) -> None:
    """Copy experiment ``name``'s record of ``detector`` into ``out`` (atomically)."""
    rev = experiment_rev(name, root)
    with atomic_dir(out) as tmp:
        for file, path in run_files(detector).items():
            (tmp / file).write_text(read_at(rev, path, root))
        (tmp / "experiment.json").write_text(json.dumps({"name": name, "commit": rev}, indent=2) + "\n")


def load_record(paths: dict[str, Path]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Test metrics and run record of one run's files (a baseline's: only these two)."""
    metrics, training = (json.loads(paths[f].read_text()) for f in ("metrics.json", "training.json"))
    return metrics, training


def load_run(paths: dict[str, Path]) -> tuple[dict[str, Any], dict[str, Any], dict[str, pd.Series]]:
    """Test metrics, run record and validation curves (indexed by epoch) of one run's files."""
    metrics, training = load_record(paths)
    frames = {c: pd.read_csv(paths[f"val_{c}.tsv"], sep="\t") for c in CURVES}
    steps_per_epoch = frames["auroc"]["step"].iloc[0] + 1  # logged after each epoch's last step
    curves = {c: pd.Series(f[c].to_numpy(), index=(f["step"] + 1) / steps_per_epoch) for c, f in frames.items()}
    return metrics, training, curves


def _row(label: str, metrics: dict[str, Any], training: dict[str, Any]) -> dict[str, str]:
    best = training.get("best_val_auroc")  # a baseline has no epochs and no validation curve
    epoch = training["best_epoch"]  # Lightning's, from 0; the table and figure count from 1
    row = {"run": label, "epochs": str(training["epochs"] or "-"), "best epoch": "-" if epoch is None else str(epoch + 1),
           "validation AUROC (best)": "-" if best is None else f"{best:.3f}",
           "test AUROC (main score)": f"{metrics['auroc']:.3f}"}
    row |= {f"test AUROC `{k.removeprefix('auroc_')}`": f"{v:.3f}" for k, v in metrics.items()
            if k.startswith("auroc_")}
    return row | {"fit s": f"{training['train_seconds']:.0f}", "device": training["device"]}


def write_summary(name: str, detector: str, runs: dict[str, dict[str, Path]], md: Path, figure: Path,
                  baseline: tuple[str, dict[str, Path]] | None = None) -> None:
    """A table of ``runs`` (label -> files, as :func:`run_files` names them; the first is the
    default run) and their validation curves in one figure. ``baseline`` (label, its
    ``metrics.json`` and ``training.json``) is a row of the table: what the runs must beat."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    loaded = {label: load_run(paths) for label, paths in runs.items()}
    rows = [_row(label, m, t) for label, (m, t, _) in loaded.items()]
    if baseline:
        label, paths = baseline
        rows.append(_row(label, *load_record(paths)))
    table = markdown_table(pd.DataFrame(rows).fillna("-"))
    write_text(md, f"# {detector}: experiment `{name}` beside the default run (one seed each)\n\n{table}\n"
                   f"Validation AUROC per epoch: `{figure}`. Files: `metrics/experiments/{name}/`.\n")
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for i, (label, (_, training, curves)) in enumerate(loaded.items()):
        for curve, style in zip(CURVES, ("-", ":")):  # the default run on top: it is the shorter one
            ax.plot(curves[curve].index, curves[curve].to_numpy(), style, color=f"C{i}", lw=2 if i == 0 else 1,
                    zorder=len(loaded) - i, label=f"{label}: {'main score' if curve == 'auroc' else 'l1'}")
        ax.axvline(training["best_epoch"] + 1, color=f"C{i}", lw=0.8, ls="--", label=f"{label}: best epoch")
    ax.set(xlabel="epoch", ylabel="validation AUROC", title=f"{detector}: validation AUROC per epoch")
    ax.legend(fontsize=8)
    fig.tight_layout()
    write_figure(figure, fig)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("name", help="the experiment's name (`dvc exp run -n NAME`)")
    ap.add_argument("--detector", default="gan")
    ap.add_argument("--baseline", default="gbt", help="the baseline row of the table (the GAN's setting: gbt)")
    ap.add_argument("--keep", action="store_true", help="copy the record from the experiment's commit first")
    args = ap.parse_args(argv)
    out = Path("metrics/experiments")
    if args.keep:
        keep(args.name, args.detector, out / args.name)
    files = run_files(args.detector)
    runs = {"default (params.yaml)": {f: Path(p) for f, p in files.items()},
            args.name: {f: out / args.name / f for f in files}}
    baseline = (f"baseline: {args.baseline} (params.yaml)",
                {f: Path(run_files(args.baseline)[f]) for f in ("metrics.json", "training.json")})
    write_summary(args.name, args.detector, runs, out / f"{args.name}.md", Path(f"plots/experiments/{args.name}.png"),
                  baseline)


if __name__ == "__main__":
    from fmnist_ad.pipeline.entry import main as entry

    entry(main)
