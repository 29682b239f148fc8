"""Transposed convolutions computed the way the CPU runs them fast, with nn.ConvTranspose2d's
parameters, initialisation and state-dict keys (so checkpoints and seeded weights are unchanged).

PyTorch's CPU kernel for transposed convolutions (oneDNN) is slow for the AE decoder's two
extreme layers. Measured on this project's 2-core CPU over 10,000 images: the 1x1 -> 7x7 layer
took 0.065-0.08 s where one matrix product takes 0.015 s (training no slower), and the 16 -> 1
channel output layer 0.12-0.17 s where the sub-pixel form below takes 0.055-0.075 s (but trains
slower, so it serves inference only). Tests check both against ``nn.ConvTranspose2d``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _pair(value: int | tuple[int, ...], name: str) -> int:
    """The one value of a square (or scalar) size: these layers support square kernels only."""
    values = (value,) if isinstance(value, int) else tuple(value)
    if len(set(values)) != 1:
        raise ValueError(f"{name} must be the same along both axes, got {value}")
    return values[0]


class PointConvTranspose2d(nn.ConvTranspose2d):
    """A transposed convolution of a 1x1 input, as one matrix product.

    Each output pixel (y, x) is ``weight[:, :, y, x]`` applied to the input vector, so the whole
    layer is ``bias + input @ weight.flatten(1)``: the same products, summed in the matrix
    product's order (float32 outputs within ~1e-7 of the convolution's).
    """

    def forward(self, input: torch.Tensor) -> torch.Tensor:  # noqa: A002 - nn.Module's name
        if input.shape[-2:] != (1, 1):
            raise ValueError(f"{type(self).__name__} takes 1x1 inputs, got {tuple(input.shape)}")
        kh, kw = self.kernel_size
        out = torch.addmm(self.bias.repeat_interleave(kh * kw), input.flatten(1), self.weight.flatten(1))
        return out.view(-1, self.out_channels, kh, kw)


class SubPixelConvTranspose2d(nn.ConvTranspose2d):
    """A strided transposed convolution as one ordinary convolution and a pixel shuffle.

    Output pixel ``s*m + r`` (stride s, phase r) sums input pixel ``m - j`` times kernel tap
    ``t = s*j + r + padding`` for every j that puts t inside the kernel. So each of the s*s phases
    is an ordinary convolution of the (padded) input with a small kernel gathered from the
    weight (zeros where a phase has fewer taps), and ``pixel_shuffle`` interleaves the phases.
    Needs an output exactly ``stride`` times the input (kernel + output_padding - 2 padding =
    stride), which holds for the decoders' k3 s2 p1 op1 and k4 s2 p1 layers.

    Only without autograd (scoring, validation): for a training step the native layer is
    faster, its backward being an ordinary convolution while this form's is a transposed one.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int,
                 padding: int = 0, output_padding: int = 0) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, output_padding)
        k, s = _pair(kernel_size, "kernel_size"), _pair(stride, "stride")
        p, op = _pair(padding, "padding"), _pair(output_padding, "output_padding")
        if k + op - 2 * p != s:
            raise ValueError(f"kernel {k}, stride {s}, padding {p}, output_padding {op} do not give an "
                             f"output {s}x the input (needs kernel + output_padding - 2 padding = stride)")
        j_max = (k - 1 - p) // s                    # phase 0's largest input offset
        j_min = -math.floor((s - 1 + p) / s)        # phase s-1's smallest
        self.phase_pad = (j_max, -j_min)            # input padding before / after, per axis
        taps = torch.full((s, j_max - j_min + 1), k, dtype=torch.long)  # k = the zero tap
        for r in range(s):
            for u, j in enumerate(range(j_max, j_min - 1, -1)):
                if 0 <= s * j + r + p < k:
                    taps[r, u] = s * j + r + p
        self.register_buffer("taps", taps, persistent=False)

    def phase_weight(self) -> torch.Tensor:
        """(out_channels * s * s, in_channels, K, K) kernels, phase-major as pixel_shuffle wants."""
        s, size = self.taps.shape
        padded = F.pad(self.weight, (0, 1, 0, 1))   # index k along each kernel axis reads 0
        w = padded[:, :, self.taps[:, :, None, None], self.taps[None, None]]  # ci, co, ry, uy, rx, ux
        return w.permute(1, 2, 4, 0, 3, 5).reshape(self.out_channels * s * s, self.in_channels, size, size)

    def forward(self, input: torch.Tensor) -> torch.Tensor:  # noqa: A002 - nn.Module's name
        if torch.is_grad_enabled() and (input.requires_grad or self.weight.requires_grad):
            return super().forward(input)
        s = self.taps.shape[0]
        before, after = self.phase_pad
        x = F.pad(input, (before, after, before, after))
        return F.pixel_shuffle(F.conv2d(x, self.phase_weight(), self.bias.repeat_interleave(s * s)), s)
