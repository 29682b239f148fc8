"""A transposed convolution of a 1x1 input computed as one matrix product, with
nn.ConvTranspose2d's parameters, initialisation and state-dict keys (so checkpoints and seeded
weights are unchanged).

PyTorch's CPU kernel for transposed convolutions (oneDNN) is slow for the AE's code -> 7x7
layer: 0.065-0.08 s forward for 5,000 images in batches of 512 where one matrix product takes
0.015 s (2-core CPU). For the decoders' other layers the native layer is as fast as the
alternatives at the step level (GAN training step 24-34 ms either way, docs/speed.md), so they
stay ``nn.ConvTranspose2d``.

A test checks it against ``nn.ConvTranspose2d``, values and gradients.
"""

from __future__ import annotations

import torch
from torch import nn


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
