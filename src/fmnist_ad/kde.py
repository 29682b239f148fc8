"""Gaussian kernel density estimation in torch, evaluated in batches.

Equivalent to scikit-learn's ``KernelDensity(kernel="gaussian")`` with an isotropic
bandwidth (a test checks it) but evaluated as one matrix product + log-sum-exp per batch,
which is what makes scoring 10,000 images against 50,000 training codes take seconds.

-|q - r|^2 / 2h^2 = (q.r - |r|^2/2) / h^2 - |q|^2 / 2h^2: the per-reference part is one fused
``addmm`` and the per-query part is added after the log-sum-exp, so each batch fills one reused
(batch x n) matrix and log-sum-exps it in place. Float64 throughout: float32 was 1e-4 off and, on the
real AE codes, slower on the CPU (0.32-0.35 s vs 0.15 s for 10,000 x 5,000: the log-kernels of a
query span ~700 nats, far past float32's exponent range). Batches of 256 queries keep that
matrix in cache (measured ~2x faster than 2048).
"""

from __future__ import annotations

import math

import torch


def rule_of_thumb(x: torch.Tensor, rule: str) -> float:
    """Scott's or Silverman's bandwidth for isotropic kernels, scaled by the data's spread.

    Uses only the fitted (training) codes: h = sigma * n^(-1/(d+4)) (Scott) or
    sigma * (n (d+2) / 4)^(-1/(d+4)) (Silverman), sigma = root mean per-dimension variance.
    """
    n, d = x.shape
    sigma = x.double().var(dim=0, unbiased=True).mean().sqrt().item() if n > 1 else 1.0
    sigma = sigma if sigma > 0 else 1.0
    if rule == "scott":
        return sigma * n ** (-1.0 / (d + 4))
    if rule == "silverman":
        return sigma * (n * (d + 2) / 4.0) ** (-1.0 / (d + 4))
    raise ValueError(f"unknown bandwidth rule {rule!r}; use 'scott', 'silverman' or a number")


class GaussianKDE:
    """Fit on reference points; ``score_samples`` returns log densities (higher = more typical)."""

    def __init__(self, bandwidth: str | float = "scott", batch_size: int = 256) -> None:
        self.bandwidth_param = bandwidth
        self.batch_size = batch_size
        self.bandwidth: float | None = None
        self.points: torch.Tensor | None = None
        self._prepared: tuple[torch.device, torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def fit(self, points: torch.Tensor) -> GaussianKDE:
        points = points.detach().to(torch.float64)
        if points.ndim != 2 or len(points) == 0:
            raise ValueError(f"KDE needs a non-empty (n, d) matrix, got shape {tuple(points.shape)}")
        bw = self.bandwidth_param
        return self.restore(points, rule_of_thumb(points, bw) if isinstance(bw, str) else float(bw))

    def restore(self, points: torch.Tensor, bandwidth: float) -> GaussianKDE:
        """Set fitted reference points and bandwidth (from a checkpoint)."""
        self.points, self.bandwidth, self._prepared = points, bandwidth, None
        return self

    def _reference(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Centred reference points, their -|r|^2 / 2h^2 terms and the centre, on ``device``.

        Made once per fit and device: the AE calls :meth:`score_samples` once per eval batch, and
        rebuilding them (plus a 2.5 MB host-to-GPU copy) every time took most of the AE's GPU
        scoring time. Centring changes no distance and keeps the expanded terms small.
        """
        if self._prepared is None or self._prepared[0] != device:
            assert self.points is not None and self.bandwidth is not None
            centre = self.points.mean(dim=0)
            ref = (self.points - centre).to(device)
            ref_term = -(ref * ref).sum(dim=1) / (2 * self.bandwidth**2)
            self._prepared = (device, ref, ref_term, centre.to(device))
        return self._prepared[1:]

    @torch.inference_mode()
    def score_samples(self, queries: torch.Tensor) -> torch.Tensor:
        """log p(query) for each row, in batches of ``batch_size`` queries."""
        if self.points is None or self.bandwidth is None:
            raise RuntimeError("GaussianKDE.score_samples called before fit")
        ref, ref_term, centre = self._reference(queries.device)
        n, d = ref.shape
        h2 = self.bandwidth ** 2
        norm = math.log(n) + 0.5 * d * math.log(2 * math.pi * h2)
        q = queries.detach().to(ref) - centre
        out = torch.empty(len(q), dtype=ref.dtype, device=ref.device)
        # one (batch x n) buffer, log-sum-exp'd in place: a fresh 10 MB matrix per batch (plus
        # logsumexp's temporaries) cost ~20% more on the CPU, for bit-identical results
        log_kernels = torch.empty(min(self.batch_size, len(q)), n, dtype=ref.dtype, device=ref.device)
        for start in range(0, len(q), self.batch_size):
            chunk = q[start:start + self.batch_size]
            lk = torch.addmm(ref_term, chunk, ref.T, alpha=1 / h2, out=log_kernels[:len(chunk)])
            peak = lk.amax(dim=1, keepdim=True)
            out[start:start + len(chunk)] = lk.sub_(peak).exp_().sum(dim=1).log_().add_(peak[:, 0])
        return out - (q * q).sum(dim=1) / (2 * h2) - norm
