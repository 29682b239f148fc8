"""How much of this machine's arithmetic one GAN training step uses: `python measure/gan_step.py`.

Times :func:`~fmnist_ad.detectors.gan.step.gan_step` with the params of ``params.yaml`` (random
images: the step's cost does not depend on their content), counts its FLOPs with torch's FLOP
counter, and times a square matrix product in the same process: the step's FLOP rate over the
GEMM rate is the share of the machine the step uses. Step and GEMM are timed in alternating
rounds, since a shared CPU's speed drifts within seconds; the figures are medians over rounds.
``--profile`` prints torch's profiler table of a few steps by operator and input shape.
``--ceiling`` prints what the step would take if its convolutions ran as fast as the matrix
products of their im2col lowering (timed alone, without the im2col): the bound that faster
convolution kernels alone could reach.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter
from pathlib import Path

import torch
import yaml
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from fmnist_ad.detectors.gan.detector import GANDetector
from fmnist_ad.detectors.gan.model import GANModel
from fmnist_ad.detectors.gan.module import gan_optimizers
from fmnist_ad.detectors.gan.step import gan_step
from fmnist_ad.params.gan import GANParams

REPO = Path(__file__).resolve().parents[1]


def build(params: GANParams) -> tuple[GANModel, list[torch.optim.Optimizer]]:
    """The model and the optimizers training builds."""
    model = GANDetector(params).model.train()
    return model, gan_optimizers(model, params)


def step_seconds(model: GANModel, params: GANParams, optimizers: list[torch.optim.Optimizer],
                 x: torch.Tensor, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        gan_step(model, params, x, params.batch_size, optimizers, torch.Tensor.backward)
    return (time.perf_counter() - start) / steps


def gemm_flops_per_second(n: int = 1024, repeats: int = 10) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n ** 3 * repeats / (time.perf_counter() - start)


class _ConvCalls(TorchDispatchMode):
    """Records the (M, K, N) matrix products of each convolution's im2col lowering: forward
    ``cols @ W``, backward ``dY @ W`` (input) and ``cols^T @ dY`` (weight), transposed ones mirrored."""

    def __init__(self) -> None:
        super().__init__()
        self.products: Counter[tuple[int, int, int]] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func is torch.ops.aten.convolution.default:
            x, w, transposed = args[0], args[1], args[6]
            if transposed:  # weight (in, out, k, k): x's pixels times W, then col2im
                self.products[(x.shape[0] * x.shape[2] * x.shape[3], w.shape[0], w[0].numel())] += 1
            else:
                self.products[(out.shape[0] * out.shape[2] * out.shape[3], w[0].numel(), w.shape[0])] += 1
        elif func is torch.ops.aten.convolution_backward.default:
            grad, x, w, transposed, mask = args[0], args[1], args[2], args[7], args[10]
            pixels = x if transposed else grad  # the side whose pixels are the GEMMs' rows
            m = pixels.shape[0] * pixels.shape[2] * pixels.shape[3]
            narrow, wide = w.shape[0], w[0].numel()  # (channels, the other side's channels x k x k)
            products = [(m, wide, narrow), (narrow, m, wide)] if transposed else [(m, narrow, wide), (wide, m, narrow)]
            for needed, product in zip(mask[:2], products):  # gradient of the input, of the weight
                if needed:
                    self.products[product] += 1
        return out


def matmul_seconds(m: int, k: int, n: int, repeats: int = 50) -> float:
    a, b = torch.randn(m, k), torch.randn(k, n)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return (time.perf_counter() - start) / repeats


def print_ceiling(model: GANModel, params: GANParams, optimizers: list[torch.optim.Optimizer],
                  x: torch.Tensor, step: float, gemm: float, flops: float) -> None:
    """The step's convolutions as bare matrix products against the convolution calls' profiled
    time: what remains of the step if the convolutions ran at their GEMMs' speed."""
    with _ConvCalls() as calls:
        gan_step(model, params, x, params.batch_size, optimizers, torch.Tensor.backward)
    products = calls.products
    lowered = statistics.median(sum(matmul_seconds(*shape) * n for shape, n in products.items())
                                for _ in range(5))
    steps = 20
    with torch.profiler.profile() as prof:
        step_seconds(model, params, optimizers, x, steps)
    conv = sum(e.self_cpu_time_total for e in prof.key_averages() if "conv" in e.key.lower()) / steps / 1e6
    bound = step - conv + lowered
    print(f"convolutions: {sum(products.values())} matrix products of im2col shapes, "
          f"{lowered * 1e3:.1f} ms a step alone ({flops / lowered / gemm:.2f} of the GEMM rate); "
          f"the step's convolution calls: {conv * 1e3:.1f} ms (profiled)")
    print(f"ceiling: step with convolutions at GEMM speed {bound * 1e3:.1f} ms = {flops / bound / gemm:.3f} of the GEMM rate")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="alternating step/GEMM rounds")
    parser.add_argument("--steps", type=int, default=20, help="steps timed per round")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--profile", action="store_true", help="print the profiler table of 20 steps")
    parser.add_argument("--ceiling", action="store_true",
                        help="also the step with its convolutions at the speed of their im2col GEMMs")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    raw = yaml.safe_load((REPO / "params.yaml").read_text())["gan"]
    params = GANParams.model_validate(raw)
    model, optimizers = build(params)
    x = torch.rand(2 * params.batch_size, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    step_seconds(model, params, optimizers, x, 10)  # warm-up: allocator, kernel choice
    with FlopCounterMode(display=False) as counter:
        gan_step(model, params, x, params.batch_size, optimizers, torch.Tensor.backward)
    flops = counter.get_total_flops()
    if args.profile:
        with torch.profiler.profile(record_shapes=True) as prof:
            step_seconds(model, params, optimizers, x, 20)
        print(prof.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=40))
    steps, gemms = [], []
    for _ in range(args.rounds):
        steps.append(step_seconds(model, params, optimizers, x, args.steps))
        gemms.append(gemm_flops_per_second())
    step, gemm = statistics.median(steps), statistics.median(gemms)
    print(f"threads {args.threads}, batch {params.batch_size}+{params.batch_size}, arch {params.arch}")
    print(f"step: {flops / 1e9:.3f} GFLOP in {step * 1e3:.1f} ms "
          f"(rounds {min(steps) * 1e3:.1f}-{max(steps) * 1e3:.1f}) = {flops / step / 1e9:.1f} GFLOP/s, "
          f"{2 * params.batch_size / step:.0f} img/s")
    print(f"GEMM 1024: {gemm / 1e9:.1f} GFLOP/s (rounds {min(gemms) / 1e9:.0f}-{max(gemms) / 1e9:.0f})")
    print(f"step / GEMM: {flops / step / gemm:.3f}")
    if args.ceiling:
        print_ceiling(model, params, optimizers, x, step, gemm, flops)


if __name__ == "__main__":
    main()
