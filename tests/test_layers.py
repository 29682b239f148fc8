"""The fast transposed convolutions agree with nn.ConvTranspose2d, values and gradients."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fmnist_ad.detectors.layers import PointConvTranspose2d, SubPixelConvTranspose2d


def _pair(cls: type[nn.ConvTranspose2d], *args: int) -> tuple[nn.ConvTranspose2d, nn.ConvTranspose2d]:
    """The reference layer and ``cls``, both from seed 0: they must draw the same initial weights."""
    torch.manual_seed(0)
    ref = nn.ConvTranspose2d(*args).double()
    torch.manual_seed(0)
    fast = cls(*args).double()
    assert torch.equal(ref.weight, fast.weight) and torch.equal(ref.bias, fast.bias)
    return ref, fast


# (kernel, stride, padding, output_padding): the AE's and the VAE's layers, and odd ones
@pytest.mark.parametrize("config", [(3, 2, 1, 1), (4, 2, 1, 0), (2, 2, 0, 0), (5, 3, 1, 0), (7, 4, 2, 1)])
def test_sub_pixel_matches_transposed_conv_without_autograd(config: tuple[int, int, int, int]) -> None:
    ref, fast = _pair(SubPixelConvTranspose2d, 5, 3, *config)
    x = torch.randn(2, 5, 6, 7, dtype=torch.float64)
    with torch.inference_mode():
        expected, got = ref(x), fast(x)
    assert got.shape == expected.shape == (2, 3, 6 * config[1], 7 * config[1])
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)


def test_sub_pixel_trains_as_the_native_layer() -> None:
    ref, fast = _pair(SubPixelConvTranspose2d, 4, 2, 3, 2, 1, 1)
    x = torch.randn(3, 4, 5, 5, dtype=torch.float64, requires_grad=True)
    grads = [torch.autograd.grad(layer(x).square().sum(), [x, layer.weight, layer.bias]) for layer in (ref, fast)]
    for expected, got in zip(*grads):
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)


def test_sub_pixel_refuses_what_it_cannot_compute() -> None:
    with pytest.raises(ValueError, match="kernel \\+ output_padding - 2 padding = stride"):
        SubPixelConvTranspose2d(4, 2, 3, 2, 1, 0)  # 13 -> 25 pixels: not 2x
    with pytest.raises(ValueError, match="same along both axes"):
        SubPixelConvTranspose2d(4, 2, (3, 4), 2, 1, 1)


def test_point_layer_matches_transposed_conv_of_a_1x1_input() -> None:
    ref, fast = _pair(PointConvTranspose2d, 8, 4, 7)
    x = torch.randn(3, 8, 1, 1, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(fast(x), ref(x), rtol=0, atol=1e-12)
    grads = [torch.autograd.grad(layer(x).square().sum(), [x, layer.weight, layer.bias]) for layer in (ref, fast)]
    for expected, got in zip(*grads):
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="1x1 inputs"):
        fast(torch.randn(1, 8, 2, 2, dtype=torch.float64))


def test_checkpoints_of_the_native_layers_load() -> None:
    torch.manual_seed(0)
    native = nn.Sequential(nn.ConvTranspose2d(8, 4, 7), nn.ConvTranspose2d(4, 1, 3, 2, 1, 1))
    fast = nn.Sequential(PointConvTranspose2d(8, 4, 7), SubPixelConvTranspose2d(4, 1, 3, 2, 1, 1))
    fast.load_state_dict(native.state_dict())  # strict: same keys, same shapes, no extra buffers
    x = torch.randn(2, 8, 1, 1)
    with torch.inference_mode():
        torch.testing.assert_close(fast(x), native(x), rtol=0, atol=1e-6)
