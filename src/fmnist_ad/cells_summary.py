"""The cells of :mod:`fmnist_ad.cells` as means and spreads over seeds: ``metrics/protocols.json``
(for ``dvc metrics show`` / ``diff``), a Markdown table and the GAN ablation's figure."""

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
from fmnist_ad.verdict import SETTINGS, Entry, verdict

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
        raise MissingInputError(f"{cells_dir}: no cell metrics; run `dvc repro protocols/dvc.yaml`")
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for path in files:
        protocol, detector, _seed = path.stem.rsplit("-", 2)
        groups.setdefault((protocol, detector), []).append(json.loads(path.read_text()))
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for (protocol, detector), runs in sorted(groups.items()):
        keys = [*SUMMARY_KEYS, *sorted(k for k in runs[0] if k.startswith("auroc_"))]
        if "unseen_auroc" in runs[0]:  # the unseen-anomaly protocol: the same on the unseen classes
            keys += ["unseen_auroc", "unseen_auprc", *sorted(k for k in runs[0] if k.startswith("unseen_auroc_"))]
        entry: dict[str, Any] = {"seeds": len(runs), "labels_in_training": runs[0]["labels_in_training"],
                                 "main_score": runs[0]["main_score"], "baseline": detector in BASELINES,
                                 "unseen_classes": runs[0].get("unseen_classes", [])}
        for key in keys:
            values = np.array([r[key] for r in runs], dtype=np.float64)
            # unrounded: each table rounds once, to its own digits (a mean of 0.98347 shows as 0.983)
            entry[key] = {"mean": float(values.mean()),
                          "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                          "min": float(values.min()), "max": float(values.max())}
        entry["train_seconds"] = float(np.mean([r["train_seconds"] for r in runs]))
        out.setdefault(protocol, {})[detector] = entry
    return out


def entries(detectors: dict[str, dict[str, Any]], prefix: str = "") -> list[Entry]:
    """The contenders of one protocol for :func:`fmnist_ad.verdict.verdict`: each detector's main
    score and, where that is unsupervised, its first score that uses training labels (the AE's
    ``kde_ratio``), so a detector with both kinds competes in both settings. ``prefix``
    ``unseen_`` takes the figures on the unseen classes."""
    out = []
    for detector, e in detectors.items():
        scores = [(e["main_score"], bool(e["labels_in_training"]))]
        if not e["labels_in_training"]:
            scores += [(s, True) for s in params_class(detector).labeled_score_names
                       if f"{prefix}auroc_{s}" in e][:1]
        for score, labels in scores:
            key = f"{prefix}auroc" if score == e["main_score"] else f"{prefix}auroc_{score}"
            name = detector if score == e["main_score"] else f"{detector} {score}"
            out.append(Entry(name, e["baseline"], labels, e[key]["mean"], e[key]["std"], e["seeds"],
                             e["train_seconds"]))
    return out


def protocol_verdicts(detectors: dict[str, dict[str, Any]]) -> list[str]:
    """Which detector to pick under one protocol, per setting, on all anomalies and (unseen-anomaly
    protocol) on the unseen classes."""
    prefixes = [""] + (["unseen_"] if any(e["unseen_classes"] for e in detectors.values()) else [])
    lines = []
    for prefix in prefixes:
        metric = "AUROC on the unseen classes" if prefix else "AUROC"
        found = entries(detectors, prefix)
        lines += [v for labels in SETTINGS if (v := verdict(found, labels, metric))]
    return lines


def _ordered(detectors: dict[str, dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """Unsupervised rows first, each setting's detectors before its baselines."""
    return sorted(detectors.items(), key=lambda item: (item[1]["labels_in_training"], item[1]["baseline"]))


def _mean_std(e: dict[str, Any], key: str) -> str:
    return f"{e[key]['mean']:.3f} ± {e[key]['std']:.3f}" if key in e else "-"


def _fit_seconds(e: dict[str, Any]) -> str:
    return f"{e['train_seconds']:.1f}" if e["baseline"] else f"{e['train_seconds']:.0f}"


def headline_markdown(summary: dict[str, dict[str, dict[str, Any]]]) -> str:
    """The protocols (not the GAN's ablation) with their detectors and baselines: AUROC over
    seeds on all anomalies and on the unseen classes, and the fit time."""
    header = ["protocol", "method", "training labels", "main score", "AUROC", "AUROC unseen classes", "fit s"]
    lines = [header, ["---"] * len(header)]
    for protocol, detectors in summary.items():
        if protocol.startswith("ablation_"):
            continue
        for detector, e in _ordered(detectors):
            lines.append([protocol, f"{'baseline' if e['baseline'] else 'ours'}: {detector}",
                          "yes" if e["labels_in_training"] else "no", f"`{e['main_score']}`",
                          _mean_std(e, "auroc"), _mean_std(e, "unseen_auroc"), _fit_seconds(e)])
    return "\n".join("| " + " | ".join(r) + " |" for r in lines) + "\n"


def summary_markdown(summary: dict[str, dict[str, dict[str, Any]]]) -> str:
    rows = []
    for protocol, detectors in summary.items():
        for detector, e in _ordered(detectors):
            def cell(key: str) -> str:
                return _mean_std(e, key)
            others = ", ".join(f"`{k.removeprefix('auroc_')}` {e[k]['mean']:.3f}"
                               + (f" (unseen {e[f'unseen_{k}']['mean']:.3f})" if f"unseen_{k}" in e else "")
                               for k in e if k.startswith("auroc_"))
            rows.append({"protocol": protocol, "detector": detector,
                         "kind": "baseline" if e["baseline"] else "detector",
                         "main score": f"`{e['main_score']}`",
                         "training labels": "yes" if e["labels_in_training"] else "no",
                         "seeds": e["seeds"], "AUROC": cell("auroc"),
                         "AUROC unseen classes": cell("unseen_auroc"),
                         "AUPRC": cell("auprc"),
                         "report rule acc / F1": f"{e['report_accuracy']['mean']:.3f} / {e['report_f1']['mean']:.3f}",
                         "MCC rule acc / F1": f"{e['mcc_accuracy']['mean']:.3f} / {e['mcc_f1']['mean']:.3f}",
                         "AUROC of every score": others,
                         "fit s": _fit_seconds(e)})
    frame = pd.DataFrame(rows)
    lines = [list(frame.columns), ["---"] * frame.shape[1], *frame.astype(str).to_numpy().tolist()]
    picks = "".join(f"\n`{protocol}`:\n\n" + "".join(f"- {line}\n" for line in verdicts)
                    for protocol, detectors in summary.items() if (verdicts := protocol_verdicts(detectors)))
    return ("# The protocols over seeds (test set)\n\n"
            + headline_markdown(summary) + "\nEvery figure:\n\n"
            + "\n".join("| " + " | ".join(r) + " |" for r in lines) + "\n\n"
            "Mean ± sample standard deviation over the seeds (each seed sets the splits and the "
            "detector's initialisation). AUROC/AUPRC from the continuous main score; threshold rules "
            "fitted on validation only. `AUROC of every score`: mean over seeds on all anomalies (in "
            "brackets: on the unseen classes). `training labels`: whether the main score uses the labels "
            "of training images (the AE's `kde_ratio`, `mse_gap`, the GAN, the `gbt` classifier); the "
            "others are unsupervised. Baselines are off-the-shelf estimators on raw pixels (`knn`, "
            "`iforest`: PyOD; `gbt`: scikit-learn's gradient-boosted classifier of normals against the "
            "labeled anomalies). `AUROC unseen classes` (the `tshirt_unseen_*` protocols, whose "
            "labeled and validation anomalies come from a few classes): the same AUROC on the test "
            "normals and the anomalies of the classes no training or validation image showed. "
            "`fit s`: training (networks) or the estimator's fit (baselines), mean over seeds.\n"
            "\n## Which detector to pick\n" + picks)


#: what ``metrics/protocols.json`` keeps of each summary entry (the Markdown table has the rest):
#: few enough columns for `dvc exp show` and `dvc metrics diff`
METRIC_KEYS = {"auroc": ("mean", "std"), "unseen_auroc": ("mean", "std")}


def headline(summary: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, dict[str, Any]]]:
    """The summary cut to :data:`METRIC_KEYS`: the columns ``dvc exp show`` gives the protocols
    (``sandal.vae.auroc.mean``, ``tshirt_unseen_one.gan.unseen_auroc.mean``); seeds, AUPRC and
    the rules' figures are in the Markdown table."""
    return {protocol: {detector: {k: {stat: e[k][stat] for stat in stats} for k, stats in METRIC_KEYS.items()
                                  if k in e}
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
