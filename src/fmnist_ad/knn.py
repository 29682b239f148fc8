"""k-nearest-neighbour distance in torch: how far a query is from its ``k`` closest references.

Two metrics, each where it measured best (docs/detectors.md):

- ``cosine`` on the AE's 1x1x64 codes: a code's length mostly follows how much ink an image
  holds, its direction what the garment is. Validation AUROC (default protocol, seed 42) 0.937
  for the 10 nearest training codes against 0.924-0.926 for Euclidean kNN and the KDE; k 5-50
  gave 0.935-0.937.
- ``euclidean`` on the GAN's 256-d bottleneck: the difference of the distances to normal and to
  labeled-anomaly training codes beat the reconstruction error on each of 3 seeds.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

Metric = Literal["cosine", "euclidean"]


class KNN:
    """Fit on reference rows; ``distance`` is each query's mean distance to its ``k`` nearest
    references (higher = farther = more anomalous). Cosine distance is 1 - cosine similarity
    (0 to 2, blind to length); Euclidean is the L2 distance."""

    def __init__(self, k: int = 10, metric: Metric = "cosine", batch_size: int = 1024) -> None:
        if metric not in ("cosine", "euclidean"):
            raise ValueError(f"unknown kNN metric {metric!r}; use 'cosine' or 'euclidean'")
        self.k = k
        self.metric = metric
        self.batch_size = batch_size
        self.points: torch.Tensor | None = None

    def fit(self, points: torch.Tensor) -> KNN:
        """Keep ``points`` (n, d) as references, on their device (scoring queries come there)."""
        if points.ndim != 2 or len(points) == 0:
            raise ValueError(f"kNN needs a non-empty (n, d) matrix, got shape {tuple(points.shape)}")
        points = points.detach().float()
        self.points = F.normalize(points, dim=1) if self.metric == "cosine" else points
        return self

    @torch.inference_mode()
    def distance(self, queries: torch.Tensor) -> torch.Tensor:
        """Per-query kNN distance, in batches of ``batch_size`` queries."""
        if self.points is None:
            raise RuntimeError("KNN.distance called before fit")
        if self.points.device != queries.device:  # once: later batches find them there
            self.points = self.points.to(queries.device)
        ref, k = self.points, min(self.k, len(self.points))
        q = queries.detach().float()
        if self.metric == "cosine":
            q = F.normalize(q, dim=1)
            return torch.cat([1.0 - (c @ ref.T).topk(k, dim=1).values.mean(dim=1) for c in q.split(self.batch_size)])
        return torch.cat([torch.cdist(c, ref).topk(k, dim=1, largest=False).values.mean(dim=1)
                          for c in q.split(self.batch_size)])
