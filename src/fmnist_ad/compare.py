"""The `compare` stage: every detector's test metrics, training summary and figures side by side.

Reads what `train`, `score` and `threshold` wrote for each detector (recomputing `evaluate`'s
test metrics) and writes a
nested metrics summary (so ``dvc metrics diff`` shows ``ae.auroc``), a Markdown table and PNGs.
Figures are drawn on bare ``Figure`` objects (Agg canvas): no pyplot state, nothing to close.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from sklearn.metrics import confusion_matrix, precision_recall_curve, roc_curve

from fmnist_ad.atomic import atomic_dir, write_json, write_text
from fmnist_ad.detectors import BASELINES, params_class
from fmnist_ad.errors import MissingInputError
from fmnist_ad.evaluate import metrics
from fmnist_ad.figures import write_figure
from fmnist_ad.thresholds import RULES, predict
from fmnist_ad.verdict import SETTINGS, Entry, verdict

RULE_STATS = ("accuracy", "precision", "recall", "f1")
RULE_STYLES = {"report": ("black", "-"), "f1": ("tab:green", "--"), "mcc": ("tab:orange", "-."),
               "fpr": ("tab:purple", ":")}
#: rules whose test confusion matrices are drawn side by side: the report's F1 and the one that
#: does not degenerate under imbalance
CONFUSION_RULES = ("f1", "mcc")
#: DVCLive's per-step epoch counter: bookkeeping, not a training curve
SKIPPED_CURVES = frozenset({"epoch"})
LABEL_NAMES = ("normal", "anomalous")
LABEL_COLORS = ("tab:blue", "tab:red")


@dataclass(frozen=True)
class ModelOutputs:
    """Everything the report needs from one detector's pipeline outputs (a baseline has no
    reconstructions or training curves: ``recon`` and ``curves`` are None)."""

    name: str
    test: pd.DataFrame
    thresholds: dict[str, Any]
    metrics: dict[str, Any]
    training: dict[str, Any]
    recon: dict[str, np.ndarray] | None
    curves: dict[str, dict[str, pd.DataFrame]] | None  # metric name -> {"train"/"val"/"": step table}

    @property
    def baseline(self) -> bool:
        return self.name in BASELINES

    @property
    def uses_labels(self) -> bool:
        return self.main_score in params_class(self.name).labeled_score_names

    @property
    def main_score(self) -> str:
        return self.thresholds["main_score"]


def input_paths(root: Path, model: str) -> dict[str, Path]:
    """Where the pipeline writes each of ``model``'s outputs (see dvc.yaml); a baseline writes
    no reconstructions or curves."""
    paths = {
        "test": root / "data" / "scores" / model / "test.csv",
        "thresholds": root / "data" / "thresholds" / f"{model}.json",
        "training": root / "metrics" / "training" / f"{model}.json",
    }
    if model not in BASELINES:
        paths |= {"recon": root / "data" / "scores" / model / "reconstructions.npz",
                  "curves": root / "plots" / "training" / model / "plots" / "metrics"}
    return paths


def _missing(path: Path, model: str) -> MissingInputError:
    return MissingInputError(f"{path}: missing; run `dvc repro evaluate@{model}` first")


def read_curves(folder: Path, model: str) -> dict[str, dict[str, pd.DataFrame]]:
    """DVCLive TSVs grouped by metric name, keyed by split folder (``train/loss.tsv`` -> loss/train)."""
    curves: dict[str, dict[str, pd.DataFrame]] = {}
    for tsv in sorted(folder.rglob("*.tsv")):
        if tsv.stem in SKIPPED_CURVES:
            continue
        split = "/".join(tsv.relative_to(folder).parts[:-1])
        curves.setdefault(tsv.stem, {})[split] = pd.read_csv(tsv, sep="\t")
    if not curves:
        raise _missing(folder / "**" / "*.tsv", model)
    return curves


def load_outputs(root: Path, model: str, unseen_classes: Sequence[int] = ()) -> ModelOutputs:
    """Read one detector's outputs; a missing one names its path and the stage that makes it."""
    paths = input_paths(root, model)
    for path in paths.values():
        if not path.exists():
            raise _missing(path, model)
    recon = None
    if "recon" in paths:
        with np.load(paths["recon"]) as npz:
            recon = dict(npz)
    test = pd.read_csv(paths["test"])
    thresholds = json.loads(paths["thresholds"].read_text())
    return ModelOutputs(
        name=model,
        test=test,
        thresholds=thresholds,
        # what evaluate@M wrote, recomputed: one dep fewer per detector
        metrics=metrics(test, thresholds, unseen_classes),
        training=json.loads(paths["training"].read_text()),
        recon=recon,
        curves=read_curves(paths["curves"], model) if "curves" in paths else None,
    )


# --- summary ---------------------------------------------------------------------------------

def model_summary(out: ModelOutputs) -> dict[str, Any]:
    """The headline numbers of one detector; keys follow metrics/<model>.json."""
    m = out.metrics
    summary: dict[str, Any] = {"main_score": out.main_score, "baseline": out.baseline,
                               "labels_in_training": out.uses_labels, "auroc": m["auroc"], "auprc": m["auprc"]}
    if "unseen_auroc" in m:
        summary.update(unseen_auroc=m["unseen_auroc"], unseen_auprc=m["unseen_auprc"])
    summary.update({f"{rule}_{stat}": m[f"{rule}_{stat}"] for rule in RULES for stat in RULE_STATS})
    summary.update({key: out.training[key] for key in ("epochs", "train_seconds", "device")})
    return summary


def summarise(outputs: Sequence[ModelOutputs]) -> dict[str, dict[str, Any]]:
    return {out.name: model_summary(out) for out in outputs}


def markdown_table(frame: pd.DataFrame) -> str:
    """GitHub-flavoured Markdown table of string cells (no `tabulate` dependency needed)."""
    rows = [list(frame.columns), ["---"] * frame.shape[1], *frame.astype(str).to_numpy().tolist()]
    return "\n".join("| " + " | ".join(row) + " |" for row in rows) + "\n"


def summary_frame(summary: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """One row per detector; each threshold rule's four statistics share one compact column."""
    rows = []
    for model, s in sorted(summary.items(), key=lambda item: (item[1]["labels_in_training"], item[1]["baseline"])):
        row = {"model": model, "kind": "baseline" if s["baseline"] else "detector",
               "training labels": "yes" if s["labels_in_training"] else "no",
               "main score": s["main_score"], "AUROC": f"{s['auroc']:.3f}", "AUPRC": f"{s['auprc']:.3f}"}
        if "unseen_auroc" in s:
            row["AUROC unseen classes"] = f"{s['unseen_auroc']:.3f}"
        for rule in RULES:
            row[f"{rule} acc / P / R / F1"] = " / ".join(f"{s[f'{rule}_{stat}']:.3f}" for stat in RULE_STATS)
        row.update({"epochs": "-" if s["epochs"] is None else s["epochs"],
                    "fit time (s)": f"{s['train_seconds']:.1f}", "device": s["device"]})
        rows.append(row)
    return pd.DataFrame(rows)


def summary_verdicts(summary: dict[str, dict[str, Any]]) -> list[str]:
    """:func:`fmnist_ad.verdict.verdict` for each setting, on this one seed (and on the unseen
    classes where the protocol has them)."""
    keys = ["auroc", *(["unseen_auroc"] if any("unseen_auroc" in s for s in summary.values()) else [])]
    lines = []
    for key in keys:
        entries = [Entry(m, s["baseline"], s["labels_in_training"], s[key], None, 1, s["train_seconds"])
                   for m, s in summary.items()]
        metric = "AUROC on the unseen classes" if key.startswith("unseen") else "AUROC"
        lines += [v for labels in SETTINGS if (v := verdict(entries, labels, metric))]
    return lines


def summary_markdown(summary: dict[str, dict[str, Any]]) -> str:
    return (
        "# Detector comparison (test set)\n\n"
        + markdown_table(summary_frame(summary))
        + "\nWhich to pick:\n\n" + "".join(f"- {line}\n" for line in summary_verdicts(summary))
        + "\nBaselines are off-the-shelf estimators on raw pixels (PyOD's `knn` and `iforest`; "
          "`gbt`, scikit-learn's gradient-boosted classifier of normals against the labeled "
          "anomalies). `training labels`: whether the main score uses labeled training anomalies. "
          "Fit time: training (networks, Lightning) or the estimator's one `fit` call (baselines).\n"
        + "\nAUROC and AUPRC come from the continuous main score. Threshold rules, all fitted on "
          "validation data only: `report` = the project report's rule (distance or midpoint, see "
          "params.yaml), `f1` = the main-score cut with the best validation F1, `mcc` = the cut with "
          "the best validation Matthews correlation (does not degenerate when anomalies dominate "
          "validation), `fpr` = the lowest main-score cut whose validation false-positive rate is at "
          "most `target_fpr`.\n"
    )


# --- figures ---------------------------------------------------------------------------------

def _model_color(index: int) -> str:
    return f"C{index % 10}"


def _model_line(out: ModelOutputs) -> str:
    """Baselines dashed, detectors solid."""
    return "--" if out.baseline else "-"


def _labels_scores(out: ModelOutputs, score: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    return out.test["label"].to_numpy(), out.test[score or out.main_score].to_numpy()


def roc_figure(outputs: Sequence[ModelOutputs]) -> Figure:
    fig = Figure(figsize=(6, 5.5), layout="constrained")
    ax = fig.subplots()
    for i, out in enumerate(outputs):
        fpr, tpr, _ = roc_curve(*_labels_scores(out))
        ax.plot(fpr, tpr, color=_model_color(i), ls=_model_line(out),
                label=f"{out.name} ({out.main_score}), AUROC = {out.metrics['auroc']:.3f}")
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1, label="chance")
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="false positive rate", ylabel="true positive rate",
           title="ROC on the test set (main score)")
    ax.legend(loc="lower right")
    return fig


def pr_figure(outputs: Sequence[ModelOutputs]) -> Figure:
    fig = Figure(figsize=(6, 5.5), layout="constrained")
    ax = fig.subplots()
    for i, out in enumerate(outputs):
        precision, recall, _ = precision_recall_curve(*_labels_scores(out))
        ax.plot(recall, precision, color=_model_color(i), ls=_model_line(out), drawstyle="steps-post",
                label=f"{out.name} ({out.main_score}), AUPRC = {out.metrics['auprc']:.3f}")
    for prevalence in sorted({round(float(out.test["label"].mean()), 4) for out in outputs}):
        ax.axhline(prevalence, color="grey", ls="--", lw=1, label=f"chance (anomaly share {prevalence:.3f})")
    ax.set(xlim=(0, 1), xlabel="recall", ylabel="precision", title="Precision-recall on the test set (main score)")
    ax.legend(loc="lower left")
    return fig


def _draw_cuts(ax: Axes, out: ModelOutputs) -> None:
    """One vertical line per rule with a cut on the main score; a legend note for a rule without."""
    main = out.main_score
    for rule in RULES:
        spec = out.thresholds[rule]
        if main not in spec["cut"]:
            ax.plot([], [], " ", label=f"{rule} rule: no {main} cut (uses {', '.join(spec['cut'])})")
            continue
        color, ls = RULE_STYLES[rule]
        extra = f", target FPR {spec['target_fpr']:.0%}" if "target_fpr" in spec else ""
        ax.axvline(spec["cut"][main], color=color, ls=ls, lw=1.5,
                   label=f"{rule} cut = {spec['cut'][main]:.4g}{extra}")


def hist_figure(out: ModelOutputs, bins: int = 60) -> Figure:
    labels, scores = _labels_scores(out)
    edges = np.histogram_bin_edges(scores, bins=bins)
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    for y, (name, color) in enumerate(zip(LABEL_NAMES, LABEL_COLORS)):
        ax.hist(scores[labels == y], bins=edges, density=True, alpha=0.5, color=color,
                label=f"{name} (n = {int((labels == y).sum())})")
    _draw_cuts(ax, out)
    ax.set(xlabel=f"{out.main_score} score (higher = more anomalous)", ylabel="density",
           title=f"{out.name}: test {out.main_score} scores and threshold cuts")
    ax.legend(fontsize="small")
    return fig


def confusion_figure(out: ModelOutputs) -> Figure:
    """Test confusion matrices of the F1 and MCC rules (cuts chosen on validation), side by side."""
    labels, _ = _labels_scores(out)
    fig = Figure(figsize=(9.5, 4.3), layout="constrained")
    axes = fig.subplots(1, len(CONFUSION_RULES))
    for ax, name in zip(axes, CONFUSION_RULES):
        rule = out.thresholds[name]
        counts = confusion_matrix(labels, predict(rule, out.test), labels=[0, 1])
        share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
        for (r, c), n in np.ndenumerate(counts):
            ax.text(c, r, f"{n}\n{share[r, c]:.1%}", ha="center", va="center", fontsize=12,
                    color="white" if share[r, c] > 0.5 else "black")
        ticks = [0, 1]
        ax.set(xticks=ticks, yticks=ticks, xticklabels=LABEL_NAMES, yticklabels=LABEL_NAMES,
               xlabel="predicted", ylabel="actual")
        cut = ", ".join(f"{score} >= {value:.4g}" for score, value in rule["cut"].items())
        ax.set_title(f"{name} rule ({cut})", fontsize=10)
    fig.colorbar(image, ax=axes, label="share of the actual class")
    fig.suptitle(f"{out.name}: test confusion")
    return fig


def recon_figure(out: ModelOutputs) -> Figure:
    """Inputs over reconstructions, normal examples left, anomalous right, main score on top."""
    r = out.recon
    order = np.argsort(r["labels"], kind="stable")
    images = r["images"][order]
    recons = r["reconstructions"].reshape(len(order), *r["reconstructions"].shape[-2:])[order]
    scores = out.test.set_index("index")[out.main_score].reindex(r["index"][order]).to_numpy()
    labels = r["labels"][order]
    fig = Figure(figsize=(0.85 * len(order) + 0.6, 2.6), layout="constrained")
    axes = fig.subplots(2, len(order), squeeze=False)
    for j in range(len(order)):
        axes[0, j].imshow(images[j], cmap="gray", vmin=0, vmax=255)
        axes[1, j].imshow(recons[j], cmap="gray", vmin=0, vmax=1)
        axes[0, j].set_title(f"{scores[j]:.3g}", fontsize=7, color=LABEL_COLORS[int(labels[j])])
        for ax in axes[:, j]:
            ax.set(xticks=[], yticks=[])
    axes[0, 0].set_ylabel("input", fontsize=8)
    axes[1, 0].set_ylabel("reconstruction", fontsize=8)
    fig.suptitle(f"{out.name}: test images, normal (blue) left, anomalous (red) right; "
                 f"titles = {out.main_score} score", fontsize=9)
    return fig


def _mean_std_panel(ax: Axes, labels: np.ndarray, values: np.ndarray, title: str) -> None:
    for y, (name, color) in enumerate(zip(LABEL_NAMES, LABEL_COLORS)):
        v = values[labels == y]
        ax.errorbar([y], [v.mean()], yerr=[v.std()], fmt="o", color=color, capsize=8, ms=8)
        ax.annotate(f"{v.mean():.4g}", (y, v.mean()), xytext=(12, 0), textcoords="offset points",
                    va="center", fontsize=8)
    ax.set(xticks=[0, 1], xticklabels=LABEL_NAMES, xlim=(-0.6, 1.6), title=title)


def ae_separation_figure(out: ModelOutputs, max_points: int = 2000) -> Figure:
    """The AE's two scores for normals vs anomalies: mean +- std of each, and both jointly."""
    labels = out.test["label"].to_numpy()
    mse, kde = out.test["mse"].to_numpy(), out.test["kde"].to_numpy()
    fig = Figure(figsize=(12, 4), layout="constrained")
    ax_mse, ax_kde, ax_joint = fig.subplots(1, 3, width_ratios=[1, 1, 2])
    _mean_std_panel(ax_mse, labels, mse, "reconstruction MSE\n(mean ± std)")
    _mean_std_panel(ax_kde, labels, kde, "KDE score, -log density of the code\n(mean ± std)")
    rng = np.random.default_rng(0)
    for y in (1, 0):  # normals on top: they are the minority
        idx = np.flatnonzero(labels == y)
        idx = rng.choice(idx, size=min(max_points, len(idx)), replace=False)
        ax_joint.scatter(mse[idx], kde[idx], s=4, alpha=0.3, color=LABEL_COLORS[y],
                         label=f"{LABEL_NAMES[y]} ({len(idx)} shown)")
    for y in (0, 1):
        ax_joint.scatter(mse[labels == y].mean(), kde[labels == y].mean(), marker="X", s=150,
                         color=LABEL_COLORS[y], edgecolor="black", label=f"{LABEL_NAMES[y]} mean")
    ax_joint.set(xlabel="reconstruction MSE", ylabel="KDE score", title="both scores per test image")
    ax_joint.legend(fontsize="small", markerscale=1.5)
    fig.suptitle(f"{out.name}: separation of normal and anomalous test images")
    return fig


def training_figure(out: ModelOutputs) -> Figure:
    """One panel per logged metric, train and val overlaid, x = DVCLive step."""
    names = sorted(out.curves)
    cols = min(4, len(names))
    rows = math.ceil(len(names) / cols)
    fig = Figure(figsize=(max(3.6 * cols, 6.0), 2.8 * rows), layout="constrained")  # room for the title
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, name in zip(axes, names):
        for split, frame in sorted(out.curves[name].items()):
            ax.plot(frame["step"], frame[name], marker="o" if len(frame) < 20 else None, ms=3,
                    label=split or name)
        ax.set(title=name, xlabel="step")
        ax.legend(fontsize="small")
    for ax in axes[len(names):]:
        ax.set_visible(False)
    fig.suptitle(f"{out.name}: training curves ({out.training['epochs']} epochs, "
                 f"best epoch {out.training['best_epoch']})")
    return fig


def draw_figures(outputs: Sequence[ModelOutputs], folder: Path) -> None:
    write_figure(folder / "roc.png", roc_figure(outputs))
    write_figure(folder / "pr.png", pr_figure(outputs))
    for out in outputs:
        write_figure(folder / f"hist_{out.name}.png", hist_figure(out))
        write_figure(folder / f"confusion_{out.name}.png", confusion_figure(out))
        if out.recon is not None:
            write_figure(folder / f"recon_{out.name}.png", recon_figure(out))
        if out.curves is not None:
            write_figure(folder / f"training_{out.name}.png", training_figure(out))
        if out.name == "ae":
            write_figure(folder / "ae_separation.png", ae_separation_figure(out))


def write_comparison(root: Path, models: Sequence[str], out_json: Path, out_md: Path, figures: Path,
                     unseen_classes: Sequence[int] = ()) -> None:
    """Read every detector first, so a missing input fails before anything is written."""
    outputs = [load_outputs(root, model, unseen_classes) for model in models]
    with atomic_dir(figures) as tmp:
        draw_figures(outputs, tmp)
    summary = summarise(outputs)
    write_json(out_json, summary)
    write_text(out_md, summary_markdown(summary))
