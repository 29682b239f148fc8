"""Transposed convolutions computed the way the CPU runs them fast, with nn.ConvTranspose2d's
parameters, initialisation and state-dict keys (so checkpoints and seeded weights are unchanged).

PyTorch's CPU kernel for transposed convolutions (oneDNN) is slow for two kinds of decoder layer.
Measured on this project's 2-core CPU, 5,000 images in batches of 512 (forward / forward +
backward, seconds):

- a 1x1 input, the AE's code -> 7x7 layer: 0.065-0.08 s forward where one matrix product takes
  0.015 s (:class:`PointConvTranspose2d`);
- one output channel, the last layer of every decoder (:class:`Col2imConvTranspose2d`): AE
  0.067 / 0.150 -> 0.024 / 0.135, VAE 0.135 / 0.309 -> 0.033 / 0.196, GAN 0.123 / 0.152 ->
  0.049 / 0.103. For the layers with 16-32 output channels oneDNN is the faster one, so they
  stay ``nn.ConvTranspose2d``.

Tests check both against ``nn.ConvTranspose2d``, values and gradients.
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


class Col2imConvTranspose2d(nn.ConvTranspose2d):
    """A transposed convolution that, on the CPU, runs PyTorch's own GEMM + col2im kernel.

    That kernel (``aten::slow_conv_transpose2d``, what ``nn.ConvTranspose2d`` runs when oneDNN is
    off) multiplies each image's input channels by the weight and scatter-adds the columns into
    the output: for one output channel that beats oneDNN 1.5-4x, forward and backward. Other
    devices run the native layer (cuDNN). Zero padding and one group only, as the decoders use.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, output_padding: int = 0) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, output_padding)

    def forward(self, input: torch.Tensor) -> torch.Tensor:  # noqa: A002 - nn.Module's name
        if input.device.type != "cpu":
            return super().forward(input)
        return torch.ops.aten.slow_conv_transpose2d(input, self.weight, self.kernel_size, self.bias,
                                                    self.stride, self.padding, self.output_padding,
                                                    self.dilation)
