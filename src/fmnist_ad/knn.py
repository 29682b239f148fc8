"""Cosine k-nearest-neighbour distance in torch: how far a query's direction is from its ``k``
closest reference directions.

Why cosine on the AE's codes: the code's length mostly follows how much ink an image holds,
its direction what the garment is. On the default protocol (validation AUROC, seed 42) the
cosine distance to the 10 nearest training codes scored 0.937 against 0.924-0.926 for Euclidean
kNN and the KDE; k from 5 to 50 gave 0.935-0.937 (docs/detectors.md).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class CosineKNN:
    """Fit on reference rows; ``distance`` is 1 - the mean cosine similarity of each query to its
    ``k`` most similar references (0 = on top of them, up to 2; higher = more anomalous)."""

    def __init__(self, k: int = 10, batch_size: int = 1024) -> None:
        self.k = k
        self.batch_size = batch_size
        self.points: torch.Tensor | None = None

    def fit(self, points: torch.Tensor) -> CosineKNN:
        if points.ndim != 2 or len(points) == 0:
            raise ValueError(f"kNN needs a non-empty (n, d) matrix, got shape {tuple(points.shape)}")
        self.points = F.normalize(points.detach().float(), dim=1)
        return self

    @torch.inference_mode()
    def distance(self, queries: torch.Tensor) -> torch.Tensor:
        """Per-query cosine kNN distance, in batches of ``batch_size`` queries."""
        if self.points is None:
            raise RuntimeError("CosineKNN.distance called before fit")
        ref = self.points.to(queries.device)
        k = min(self.k, len(ref))
        q = F.normalize(queries.detach().float(), dim=1)
        sims = [(chunk @ ref.T).topk(k, dim=1).values.mean(dim=1) for chunk in q.split(self.batch_size)]
        return 1.0 - torch.cat(sims)
