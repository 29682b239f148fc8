"""Which detector to pick, setting by setting: the best detector beside the best baseline.

A *setting* is what a user has to train with: normal images only (``unsupervised``), or also
labeled anomalies (``labeled``). In the unsupervised setting only unsupervised baselines compete;
with labels every baseline does (a user who has labels may still fit an unsupervised one). A
detector is worth its cost only where it beats the best baseline of its setting by more than the
seed spread (the larger of the two sample standard deviations); with one seed no spread is known
and the sentence says so.
"""

from __future__ import annotations

from dataclasses import dataclass

SETTINGS = {False: "unsupervised (normal images only)", True: "labeled anomalies in training"}


@dataclass(frozen=True)
class Entry:
    """One detector's figure in a table: its AUROC (a mean when ``seeds`` > 1) and fit time."""

    name: str
    baseline: bool
    labels: bool
    auroc: float
    std: float | None
    seeds: int
    seconds: float


def _cost(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"


def _figure(e: Entry) -> str:
    spread = f" ± {e.std:.3f}" if e.std is not None and e.seeds > 1 else ""
    return f"`{e.name}` {e.auroc:.3f}{spread} ({_cost(e.seconds)} to fit)"


def verdict(entries: list[Entry], labels: bool, metric: str = "AUROC") -> str | None:
    """One sentence for the setting ``labels``: which detector to pick and why (None when the
    setting has no detector or no baseline to hold it against)."""
    allowed = [e for e in entries if labels or not e.labels]
    networks = [e for e in allowed if not e.baseline and e.labels == labels]
    baselines = [e for e in allowed if e.baseline]
    if not networks or not baselines:
        return None
    net = max(networks, key=lambda e: e.auroc)
    base = max(baselines, key=lambda e: e.auroc)
    lead = net.auroc - base.auroc
    head = f"**{SETTINGS[labels]}**, {metric}: best detector {_figure(net)}, best baseline {_figure(base)}: "
    if net.seeds < 2 or base.seeds < 2:
        pick = net if lead > 0 else base
        return head + (f"pick `{pick.name}` on this one seed ({lead:+.3f}); whether the gap exceeds the "
                       "seed spread is for the tables over seeds to say.")
    spread = max(net.std or 0.0, base.std or 0.0)
    if lead > spread:
        return head + f"pick `{net.name}`: {lead:+.3f}, beyond the seed spread ({spread:.3f})."
    if lead < -spread:
        return head + (f"pick `{base.name}`: ahead of `{net.name}` by {-lead:.3f}, beyond the seed spread "
                       f"({spread:.3f}), at 1/{net.seconds / max(base.seconds, 1e-9):.0f} of its fit time.")
    return head + (f"pick `{base.name}`: `{net.name}` is within the seed spread of it ({lead:+.3f} against "
                   f"{spread:.3f}) at {net.seconds / max(base.seconds, 1e-9):.0f}x the fit time.")
