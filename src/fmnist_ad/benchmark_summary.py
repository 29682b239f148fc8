"""The ten-class benchmark's table: its cells as ``metrics/benchmark.json`` (``dvc metrics
show``), ``metrics/benchmark.md`` (our rows beside Kim et al.'s Table 5 and the one-class
literature) and a per-class figure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fmnist_ad.atomic import write_json, write_text
from fmnist_ad.detectors import BASELINES, params_class
from fmnist_ad.errors import MissingInputError
from fmnist_ad.figures import write_figure
from fmnist_ad.params.sections import CLASS_NAMES
from fmnist_ad.verdict import SETTINGS, Entry, verdict

CLASSES = tuple(range(len(CLASS_NAMES)))

#: the seed of every class's cell; class 0 (T-shirt/top) also runs under further seeds
MAIN_SEED = 42


def read_cells(cells_dir: Path) -> pd.DataFrame:
    """One row per cell file ``DETECTOR-CLASS-SEED.json``: its detector, class, seed and metrics."""
    files = sorted(Path(cells_dir).glob("*.json"))
    if not files:
        raise MissingInputError(f"{cells_dir}: no benchmark cells; run `dvc repro benchmark/dvc.yaml`")
    rows = []
    for path in files:
        detector, normal_class, seed = path.stem.rsplit("-", 2)
        rows.append({"detector": detector, "normal_class": int(normal_class), "seed": int(seed),
                     **json.loads(path.read_text())})
    return pd.DataFrame(rows)


def result_rows(cells: pd.DataFrame) -> list[tuple[str, str, bool]]:
    """The table's rows as ``(detector, score, uses training labels)``, unsupervised first: each
    detector's main score; where that is unsupervised, its first score that uses training labels
    (the AE's ``kde_ratio``, the report's rule), so a detector with both kinds shows both; and the
    score of the method it reproduces where the main score is another (the GAN's ``l1``, Kim et
    al.'s, beside its ``knn_gap``), so the table shows what our scores add; and the detector's
    controls, scores that leave its model out (the GAN's ``knn_gap_pixels``), where its cells
    have them, so the table also shows what the model adds."""
    rows = []
    for detector in dict.fromkeys(cells["detector"]):
        first = cells[cells["detector"] == detector].iloc[0]
        main, published = first["main_score"], first["published_score"]
        rows.append((detector, main, bool(first["labels_in_training"])))
        if published != main:
            rows.append((detector, published, published in first["labeled_scores"]))
        if not first["labels_in_training"]:
            rows += [(detector, s, True) for s in first["labeled_scores"][:1]]
        section = params_class(detector)
        rows += [(detector, s, s in section.labeled_score_names)
                 for s in section.control_score_names if f"auroc_{s}" in first]
    return sorted(rows, key=lambda row: row[2])          # the unsupervised rows first


def summarise(cells: pd.DataFrame, prefix: str = "") -> dict[str, Any]:
    """``{detector: {score: {classK: {auroc, auprc}, mean, worst, seeds[, seed_means]}}}``; dvc
    prints it flat (``gan.l1.class6.auroc``). Per class the seed-42 cell; ``seeds``: class 0 over
    every seed it ran with (mean, sample std), the noise to hold a difference between commits
    against; ``seed_means``: where every class ran under several seeds, the mean over classes
    per seed, then their mean and sample std.
    Unrounded: the table rounds once, to its own digits (98.947 stays 98.9, not 0.9895 -> 99.0).
    ``prefix`` ``unseen_``: the figures on the unseen classes (the unseen-anomaly setting)."""
    out: dict[str, Any] = {}
    for detector, score, labels in result_rows(cells):
        mine = cells[cells["detector"] == detector]
        main = mine[mine["seed"] == MAIN_SEED].set_index("normal_class").sort_index()
        auroc, auprc = main[f"{prefix}auroc_{score}"], main[f"{prefix}auprc_{score}"]
        entry: dict[str, Any] = {f"class{c}": {"auroc": float(auroc[c]), "auprc": float(auprc[c])} for c in main.index}
        entry["mean"] = {"auroc": float(auroc.mean()), "auprc": float(auprc.mean()), "classes": len(main)}
        entry["worst"] = {"auroc": float(auroc.min()), "class": int(auroc.idxmin())}
        seeds = mine[mine["normal_class"] == 0][f"{prefix}auroc_{score}"].to_numpy(dtype=np.float64)
        if len(seeds):
            entry["seeds"] = {"class0_auroc_mean": float(seeds.mean()),
                              "class0_auroc_std": float(seeds.std(ddof=1)) if len(seeds) > 1 else 0.0,
                              "n": len(seeds)}
        over_seeds = _means_over_seeds(mine, f"{prefix}auroc_{score}")
        if over_seeds is not None:
            entry["seed_means"] = over_seeds
        entry["labels_in_training"] = int(labels)
        entry["train_seconds"] = float(main["train_seconds"].mean())
        if prefix:
            entry["all_anomalies_mean_auroc"] = float(main[f"auroc_{score}"].mean())
        out.setdefault(detector, {})[score] = entry
    return out


def _means_over_seeds(cells: pd.DataFrame, column: str) -> dict[str, Any] | None:
    """Where every class ran under more than one seed: each seed's mean over the classes, then
    their mean and sample std, the spread of the ten-class mean itself (None otherwise)."""
    per_seed = cells.pivot_table(index="seed", columns="normal_class", values=column).dropna()  # seeds with every class
    if len(per_seed) < 2:
        return None
    means = per_seed.mean(axis=1).to_numpy(dtype=np.float64)
    return {"auroc_mean": float(means.mean()), "auroc_std": float(means.std(ddof=1)), "n": len(means)}


def headline(summary: dict[str, Any]) -> dict[str, Any]:
    """What ``metrics/benchmark.json`` declares (``dvc exp show`` columns, ``dvc metrics diff``):
    per row its mean and worst class, the class-0 seed spread and, where every class ran under
    several seeds, the mean over seeds with its spread; the per-class figures are in
    ``metrics/benchmark.md``, the figure and each cell's own JSON."""
    out: dict[str, Any] = {}
    for detector, scores in summary.items():
        for score, e in scores.items():
            row = {"mean_auroc": round(e["mean"]["auroc"], 4), "worst_auroc": round(e["worst"]["auroc"], 4),
                   "worst_class": e["worst"]["class"]}
            if "seeds" in e:
                row |= {"class0_seeds_mean": round(e["seeds"]["class0_auroc_mean"], 4),
                        "class0_seeds_std": round(e["seeds"]["class0_auroc_std"], 4)}
            if "seed_means" in e:
                row |= {"seeds_mean_auroc": round(e["seed_means"]["auroc_mean"], 4),
                        "seeds_std_auroc": round(e["seed_means"]["auroc_std"], 4)}
            out.setdefault(detector, {})[score] = row
    return out


def _our_rows(summary: dict[str, Any], unseen: bool = False) -> list[list[str]]:
    """Table rows of our detectors and baselines, unsupervised first, baselines beside them. The
    unseen setting's rows (every one uses labels) show the mean on all nine anomaly classes
    where the main table shows the training labels."""
    rows = []
    for detector, scores in summary.items():
        for score, e in scores.items():
            per_class = [f"{100 * e[f'class{c}']['auroc']:.1f}" if f"class{c}" in e else "" for c in CLASSES]
            control = " (control: no model)" if score in params_class(detector).control_score_names else ""
            kind = "baseline" if detector in BASELINES else "ours"
            mean, worst = f"**{100 * e['mean']['auroc']:.1f}**", f"{100 * e['worst']['auroc']:.1f} ({e['worst']['class']})"
            fit = f"{e['train_seconds']:.1f}" if detector in BASELINES else f"{e['train_seconds']:.0f}"
            s = e.get("seeds", {})
            spread = f"{100 * s['class0_auroc_mean']:.1f} ± {100 * s['class0_auroc_std']:.1f} (n={s['n']})" if s else ""
            if unseen:
                m = e.get("seed_means")
                over_seeds = f"{100 * m['auroc_mean']:.1f} ± {100 * m['auroc_std']:.1f} (n={m['n']})" if m else ""
                row = [f"{kind}: {detector} `{score}`{control}", *per_class, mean, worst, over_seeds, spread,
                       f"{100 * e['all_anomalies_mean_auroc']:.1f}", fit]
            else:
                row = [f"{kind}: {detector} `{score}`{control}", "yes" if e["labels_in_training"] else "no",
                       *per_class, mean, worst, spread, fit]
            rows.append(((e["labels_in_training"], detector not in BASELINES), row))
    return [row for _, row in sorted(rows, key=lambda r: r[0])]


def benchmark_entries(summary: dict[str, Any]) -> list[Entry]:
    """Every row of the table as a contender for :func:`fmnist_ad.verdict.verdict`: its ten-class
    mean over seeds with that mean's spread where every class ran under several seeds; else its
    mean over the classes with the T-shirt column's spread over seeds, the only one measured."""
    out = []
    for detector, scores in summary.items():
        for score, e in scores.items():
            if score in params_class(detector).control_score_names:
                continue
            name, baseline, labels = f"{detector} {score}", detector in BASELINES, bool(e["labels_in_training"])
            if "seed_means" in e:
                m = e["seed_means"]
                out.append(Entry(name, baseline, labels, m["auroc_mean"], m["auroc_std"], m["n"], e["train_seconds"]))
            else:
                s = e.get("seeds", {})
                out.append(Entry(name, baseline, labels, e["mean"]["auroc"], s.get("class0_auroc_std"), s.get("n", 1),
                                 e["train_seconds"]))
    return out


def labeled_classes(cells: pd.DataFrame) -> dict[int, list[int]]:
    """Per normal class, the anomaly classes its cells labeled (those not in ``unseen_classes``)."""
    return {int(row["normal_class"]): sorted(set(CLASSES) - {int(row["normal_class"])} - set(row["unseen_classes"]))
            for _, row in cells.drop_duplicates("normal_class").iterrows()}


def unseen_markdown(unseen: dict[str, Any], cells: pd.DataFrame) -> str:
    """The unseen-anomaly setting: per class the AUROC on the classes never seen."""
    labeled = labeled_classes(cells)
    header = ["method", *[f"{c} (labeled: {', '.join(map(str, labeled.get(c, [])))})" for c in CLASSES],
              "mean", "worst", "mean over seeds", "class 0, seeds", "mean, all nine anomaly classes", "fit s"]
    lines = [header, ["---"] * len(header), *_our_rows(unseen, unseen=True)]
    table = "\n".join("| " + " | ".join(r) + " |" for r in lines)
    picks = [v for v in (verdict(benchmark_entries(unseen), True, "AUROC on the unseen classes"),) if v]
    return ("\n## Unseen-anomaly setting: labeled anomalies of one class\n\n"
            f"{table}\n\n"
            "Each column: that class normal; the labeled (and validation) anomalies are of one class "
            "only, the next class id (in brackets); the test set holds all nine anomaly classes, and "
            "the AUROC shown is on the eight never seen in training or validation (test normals "
            "against those anomalies). Per class seed 42; `mean over seeds`: the ten-class mean under each "
            "seed, their mean ± sample standard deviation (the sentence below uses it where it ran).\n\n" + "".join(f"- {p}\n" for p in picks))


def benchmark_markdown(summary: dict[str, Any], cells: pd.DataFrame, literature: pd.DataFrame,
                       unseen: tuple[dict[str, Any], pd.DataFrame] | None = None) -> str:
    """Our rows and the baselines (AUROC in %, test set) beside Kim et al.'s Table 5 row and the
    literature; then, where cells ran, the unseen-anomaly setting."""
    header = ["method", "training labels", *[f"{c}" for c in CLASSES], "mean", "worst", "class 0, seeds",
              "fit s (mean)"]
    lines = [header, ["---"] * len(header), *_our_rows(summary)]
    for _, row in literature.iterrows():
        per_class = ["" if pd.isna(row[f"c{c}"]) else f"{row[f'c{c}']:.1f}" for c in CLASSES]
        lines.append([f"{row['method']} [{row['protocol']}]",
                      "yes" if "semi-supervised" in row["protocol"] else "no", *per_class,
                      f"{row['mean']:.1f}", "", "", ""])
    table = "\n".join("| " + " | ".join(r) + " |" for r in lines)
    entries = benchmark_entries(summary)
    picks = "".join(f"- {v}\n" for labels in SETTINGS
                    if (v := verdict(entries, labels, "mean AUROC over the ten classes")))
    timing = cells.groupby("detector")["cell_seconds"].agg(["sum", "max"])
    slowest = cells.loc[cells["cell_seconds"].idxmax()]
    times = "; ".join(f"{d} {r['sum'] / 60:.0f} min in all, slowest cell {r['max']:.0f} s" for d, r in timing.iterrows())
    sources = "\n".join(f"- {row['method']}: {row['source']}" for _, row in literature.iterrows())
    return (
        "# Ten-class benchmark: AUROC (%) on the test set with each class as the normal class\n\n"
        f"{table}\n\n"
        "Classes: " + ", ".join(f"{c} {n}" for c, n in zip(CLASSES, CLASS_NAMES)) + ". "
        "Each column: that class normal, the nine others anomalous (test set: 1,000 normals, "
        "9,000 anomalies). Our per-class figures are one seed (42); `class 0, seeds` is the "
        "T-shirt column over every seed run (mean ± sample standard deviation), the noise a "
        "difference between two commits must exceed. `training labels: yes` rows see labeled "
        "anomalies while training (the GAN's k-means-sampled anomalies, Kim et al.'s protocol; "
        "the AE's report-rule scores); the others learn from normal images only, so the two kinds "
        "are not compared as equals. RaPP's means are on a balanced test set. Baselines: "
        "off-the-shelf estimators on raw pixels (PyOD's `knn` and `iforest`; `gbt`, scikit-learn's "
        "gradient-boosted classifier of normals against the labeled anomalies, which here cover "
        "every anomaly class). `fit s`: training (networks) or the estimator's fit (baselines), "
        "mean over the classes.\n\n"
        f"Which to pick (the spread is the T-shirt column's over seeds):\n\n{picks}\n"
        f"Cell wall time (train + score + evaluate, settings of `benchmark/settings.yaml`): {times}; "
        f"slowest cell `{slowest['detector']}-{slowest['normal_class']}-{slowest['seed']}` "
        f"({slowest['cell_seconds']:.0f} s).\n\n"
        f"Published figures (`benchmark/literature.csv`):\n{sources}\n"
        + (unseen_markdown(*unseen) if unseen else ""))


def plot_benchmark(summary: dict[str, Any], literature: pd.DataFrame, path: Path) -> None:
    """Per-class AUROC of each detector's main score against Kim et al.'s GAN row, one picture."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 4.2))
    ax = fig.subplots()
    x = np.arange(len(CLASSES))
    for detector, scores in summary.items():
        score, e = next(iter(scores.items()))            # the main score comes first
        ax.plot(x, [100 * e[f"class{c}"]["auroc"] if f"class{c}" in e else np.nan for c in CLASSES],
                marker="o", label=f"ours: {detector} {score} (mean {100 * e['mean']['auroc']:.1f})")
    for _, row in literature[literature[[f"c{c}" for c in CLASSES]].notna().all(axis=1)].iterrows():
        style = dict(color="black", linestyle="--") if row["method"].startswith("Kim") else dict(alpha=0.5, linestyle=":")
        ax.plot(x, [row[f"c{c}"] for c in CLASSES], marker=".", label=f"{row['method']} (mean {row['mean']:.1f})", **style)
    ax.set_xticks(x, [f"{c}\n{n}" for c, n in zip(CLASSES, CLASS_NAMES)], fontsize=8)
    ax.set_ylabel("test AUROC (%)")
    ax.set_title("Each class as the normal class: ours against the published tables")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    write_figure(path, fig)


def write_benchmark(cells_dir: Path, unseen_dir: Path, literature_path: Path, out_json: Path, out_md: Path,
                    out_png: Path) -> None:
    """``unseen_dir``: the unseen-anomaly setting's cells (may be empty: no such section then)."""
    cells = read_cells(cells_dir)
    literature = pd.read_csv(literature_path)  # published per-class AUROC (%), with sources
    summary = summarise(cells)
    unseen = None
    if any(Path(unseen_dir).glob("*.json")):
        unseen_cells = read_cells(unseen_dir)
        unseen = (summarise(unseen_cells, "unseen_"), unseen_cells)
    write_json(out_json, headline(summary) | ({"unseen": headline(unseen[0])} if unseen else {}))
    write_text(out_md, benchmark_markdown(summary, cells, literature, unseen))
    plot_benchmark(summary, literature, out_png)
