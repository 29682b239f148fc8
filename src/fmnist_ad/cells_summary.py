"""The cells of :mod:`fmnist_ad.cells` as means and spreads over seeds: ``metrics/protocols.json``
(for ``dvc metrics show`` / ``diff``), a Markdown table and the GAN ablation's figure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fmnist_ad.atomic import write_json, write_text
from fmnist_ad.figures import write_figure

#: headline keys averaged over seeds in the summary (besides every score's AUROC)
SUMMARY_KEYS = ("auroc", "auprc", "report_accuracy", "report_f1", "mcc_accuracy", "mcc_f1",
                "fpr_recall")


def summarise(cells_dir: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """Means and spreads over seeds: ``{protocol: {detector: {key: {mean, std, min, max}}}}``.

    Flat enough for ``dvc metrics show`` (``sandal.vae.auroc.mean``); ``std`` is the sample
    standard deviation over the seeds, ``seeds`` how many there were.
    """
    files = sorted(Path(cells_dir).glob("*.json"))
    if not files:
        raise FileNotFoundError(f"{cells_dir}: no cell metrics; run `dvc repro protocols/dvc.yaml`")
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for path in files:
        protocol, detector, _seed = path.stem.rsplit("-", 2)
        groups.setdefault((protocol, detector), []).append(json.loads(path.read_text()))
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for (protocol, detector), runs in sorted(groups.items()):
        keys = [*SUMMARY_KEYS, *sorted(k for k in runs[0] if k.startswith("auroc_"))]
        entry: dict[str, Any] = {"seeds": len(runs), "labels_in_training": runs[0]["labels_in_training"],
                                 "main_score": runs[0]["main_score"]}
        for key in keys:
            values = np.array([r[key] for r in runs], dtype=np.float64)
            entry[key] = {"mean": round(float(values.mean()), 4),
                          "std": round(float(values.std(ddof=1)) if len(values) > 1 else 0.0, 4),
                          "min": round(float(values.min()), 4), "max": round(float(values.max()), 4)}
        entry["train_seconds"] = round(float(np.mean([r["train_seconds"] for r in runs])), 1)
        out.setdefault(protocol, {})[detector] = entry
    return out


def summary_markdown(summary: dict[str, dict[str, dict[str, Any]]]) -> str:
    rows = []
    for protocol, detectors in summary.items():
        for detector, e in detectors.items():
            def cell(key: str) -> str:
                return f"{e[key]['mean']:.3f} ± {e[key]['std']:.3f}"
            others = ", ".join(f"`{k.removeprefix('auroc_')}` {e[k]['mean']:.3f}"
                               for k in e if k.startswith("auroc_"))
            rows.append({"protocol": protocol, "detector": detector,
                         "main score": f"`{e['main_score']}`",
                         "training labels": "yes" if e["labels_in_training"] else "no",
                         "seeds": e["seeds"], "AUROC": cell("auroc"), "AUPRC": cell("auprc"),
                         "report rule acc / F1": f"{e['report_accuracy']['mean']:.3f} / {e['report_f1']['mean']:.3f}",
                         "MCC rule acc / F1": f"{e['mcc_accuracy']['mean']:.3f} / {e['mcc_f1']['mean']:.3f}",
                         "AUROC of every score": others,
                         "train s": f"{e['train_seconds']:.0f}"})
    frame = pd.DataFrame(rows)
    lines = [list(frame.columns), ["---"] * frame.shape[1], *frame.astype(str).to_numpy().tolist()]
    return ("# The report's protocols over seeds (test set)\n\n"
            + "\n".join("| " + " | ".join(r) + " |" for r in lines) + "\n\n"
            "Mean ± sample standard deviation over the seeds (each seed sets the splits and the "
            "detector's initialisation). AUROC/AUPRC from the continuous main score; threshold rules "
            "fitted on validation only. `training labels`: whether the main score uses the labels "
            "of training images (the AE's `kde_ratio`, `mse_gap`); the others are unsupervised.\n")


#: what ``metrics/protocols.json`` keeps of each summary entry (the Markdown table has the rest):
#: few enough columns for `dvc exp show` and `dvc metrics diff`
METRIC_KEYS = {"auroc": ("mean", "std")}


def headline(summary: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, dict[str, Any]]]:
    """The summary cut to :data:`METRIC_KEYS`: the columns ``dvc exp show`` gives the protocols
    (``sandal.vae.auroc.mean``); seeds, AUPRC and the rules' figures are in the Markdown table."""
    return {protocol: {detector: {k: {stat: e[k][stat] for stat in stats} for k, stats in METRIC_KEYS.items()}
                       for detector, e in detectors.items()}
            for protocol, detectors in summary.items()}


def ablation_figure(summary: dict[str, dict[str, dict[str, Any]]], path: Path) -> None:
    """The GAN's ablation (protocols ``ablation_*``): test AUROC of each setting beside the full
    model's, so a reader sees what each loss term and discriminator buys."""
    from matplotlib.figure import Figure

    ablation = {p: d["gan"] for p, d in summary.items() if p.startswith("ablation_") and "gan" in d}
    rows = [(p.removeprefix("ablation_").replace("_", " "), e["auroc"]) for p, e in ablation.items()]
    scores = sorted({e["main_score"] for e in ablation.values()})
    fig = Figure(figsize=(7, 0.45 * len(rows) + 1.2))
    ax = fig.subplots()
    names = [name for name, _ in rows]
    means = [a["mean"] for _, a in rows]
    ax.barh(names, means, xerr=[a["std"] for _, a in rows], color=["tab:gray" if n == "full" else "tab:blue" for n in names])
    full = dict(rows).get("full")
    if full is not None:
        ax.axvline(full["mean"], color="black", linestyle="--", linewidth=1, label=f"full model {full['mean']:.3f}")
        ax.legend(loc="lower right", fontsize=8)
    for y, m in enumerate(means):
        ax.text(m, y, f" {m:.3f}", va="center", fontsize=8)
    ax.set_xlim(min(means) - 0.02, max(means) + 0.012)
    ax.invert_yaxis()
    ax.set_xlabel(f"test AUROC (default protocol, GAN {' / '.join(scores)})")
    ax.set_title("GAN ablation: each loss term or discriminator switched off")
    fig.tight_layout()
    write_figure(path, fig)


def write_summary(cells_dir: Path, out_json: Path, out_md: Path, out_png: Path) -> None:
    summary = summarise(cells_dir)
    write_json(out_json, headline(summary))
    write_text(out_md, summary_markdown(summary))
    ablation_figure(summary, out_png)
