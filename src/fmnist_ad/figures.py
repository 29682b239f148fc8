"""Saving matplotlib figures the way every other output is written: atomically."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from fmnist_ad.atomic import atomic_path

#: one resolution for every PNG the pipelines write
DPI = 110


def write_figure(target: Path, fig: Figure) -> None:
    """Save ``fig`` as a PNG at ``target``; a killed stage leaves no half-drawn picture."""
    with atomic_path(target) as tmp:
        fig.savefig(tmp, dpi=DPI, format="png")
