"""measure/gan_step.py's ceiling: the matrix products it times for the step's convolutions must be
exactly their arithmetic, or the bound it prints would be wrong."""

from __future__ import annotations

import sys

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from conftest import REPO

sys.path.insert(0, str(REPO / "measure"))
import gan_step  # noqa: E402 (measure/gan_step.py, a script)


@pytest.mark.parametrize("input_grad", [True, False])
def test_im2col_products_count_the_convolutions_flops(input_grad: bool) -> None:
    """Plain and transposed, stride 1 and 2, the first layer with and without an input gradient
    (a discriminator judging images, or judging reconstructions for the generator)."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 8, 4, stride=2, padding=1), nn.Conv2d(8, 16, 4, stride=1, padding=1),
                        nn.ConvTranspose2d(16, 4, 4, stride=2, padding=1))
    x = torch.rand(3, 1, 16, 16, requires_grad=input_grad)
    with FlopCounterMode(display=False) as counter:
        net(x).square().sum().backward()
    with gan_step._ConvCalls() as calls:
        net(x).square().sum().backward()
    assert sum(2 * m * k * n * count for (m, k, n), count in calls.products.items()) == counter.get_total_flops()
    assert sum(calls.products.values()) == 3 + 2 + 2 + (2 if input_grad else 1)
