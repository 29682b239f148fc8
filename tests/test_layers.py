"""The matrix-product transposed convolution agrees with nn.ConvTranspose2d, values and gradients."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fmnist_ad.detectors.layers import PointConvTranspose2d


def _pair(cls: type[nn.ConvTranspose2d], *args: int) -> tuple[nn.ConvTranspose2d, nn.ConvTranspose2d]:
    """The reference layer and ``cls``, both from seed 0: they must draw the same initial weights."""
    torch.manual_seed(0)
    ref = nn.ConvTranspose2d(*args).double()
    torch.manual_seed(0)
    fast = cls(*args).double()
    assert torch.equal(ref.weight, fast.weight) and torch.equal(ref.bias, fast.bias)
    return ref, fast


def _assert_same(ref: nn.Module, fast: nn.Module, x: torch.Tensor) -> None:
    """Same outputs and same gradients for the input and every parameter."""
    x = x.detach().requires_grad_()
    out = [layer(x) for layer in (ref, fast)]
    torch.testing.assert_close(out[1], out[0], rtol=0, atol=1e-12)
    grads = [torch.autograd.grad(o.square().sum(), [x, *layer.parameters()]) for o, layer in zip(out, (ref, fast))]
    for expected, got in zip(*grads):
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)


def test_point_layer_matches_transposed_conv_of_a_1x1_input() -> None:
    ref, fast = _pair(PointConvTranspose2d, 8, 4, 7)
    _assert_same(ref, fast, torch.randn(3, 8, 1, 1, dtype=torch.float64))
    with pytest.raises(ValueError, match="1x1 inputs"):
        fast(torch.randn(1, 8, 2, 2, dtype=torch.float64))


def test_checkpoints_of_the_native_layers_load() -> None:
    torch.manual_seed(0)
    native = nn.Sequential(nn.ConvTranspose2d(8, 4, 7), nn.ConvTranspose2d(4, 1, 3, 2, 1, 1))
    fast = nn.Sequential(PointConvTranspose2d(8, 4, 7), nn.ConvTranspose2d(4, 1, 3, 2, 1, 1))
    fast.load_state_dict(native.state_dict())  # strict: same keys, same shapes, no extra buffers
    x = torch.randn(2, 8, 1, 1)
    with torch.inference_mode():
        torch.testing.assert_close(fast(x), native(x), rtol=0, atol=1e-6)
