"""One training step of Kim et al.'s GAN, shared by the Lightning module and the benchmark's bare loop."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from fmnist_ad.detectors.gan.augment import augment
from fmnist_ad.detectors.gan.loss import anomaly_generator_terms, lsgan_d_loss, normal_generator_terms
from fmnist_ad.detectors.gan.model import GANModel
from fmnist_ad.params.gan import GANParams


def frozen(net: torch.nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """``net`` with its parameters detached: gradients reach its input, not its weights (the
    weight gradients of a call cost a third of its backward pass). Buffers stay the module's
    own, so batch norm's running statistics update as in a plain call."""
    weights = {name: p.detach() for name, p in net.named_parameters()}
    return lambda x: torch.func.functional_call(net, weights, (x,), strict=False)


def gan_step(model: GANModel, params: GANParams, x: torch.Tensor, n_normal: int,
             optimizers: Sequence[torch.optim.Optimizer], backward: Callable[[torch.Tensor], None],
             augment_rng: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """Update D_n on the batch's normals and D_a on its anomalies (real: the images, fake: their
    reconstructions), then the generator on the normal and the anomaly terms together.

    The generator runs once on the whole batch, so its batch norm sees normals and anomalies
    together in training as the running statistics do in scoring. Each discriminator judges real
    images and reconstructions in one call (batch norm still per half). In the generator's step
    the discriminators' weights are constants: the gradients they would get there were discarded
    by the next ``zero_grad`` anyway. ``backward`` is Lightning's ``manual_backward`` or plain
    ``Tensor.backward``. Returns the detached terms to log.
    """
    if augment_rng is not None:
        x = augment(x, augment_rng)
    x = model.to_input(x)
    opt_g, opt_normal, opt_anomaly = optimizers
    recon = model.generator(x)
    normal, anomaly = x[:n_normal], x[n_normal:]
    recon_normal, recon_anomaly = recon[:n_normal], recon[n_normal:]

    verdicts_normal = model.d_normal(torch.cat([normal, recon_normal.detach()]), batches=2)
    verdicts_anomaly = model.d_anomaly(torch.cat([anomaly, recon_anomaly.detach()]), batches=2)
    d_normal = lsgan_d_loss(*verdicts_normal.chunk(2))
    d_anomaly = lsgan_d_loss(*verdicts_anomaly.chunk(2))
    opt_normal.zero_grad()
    opt_anomaly.zero_grad()
    backward(d_normal + d_anomaly)  # disjoint parameters: the sum gives each D its own gradient
    opt_normal.step()
    opt_anomaly.step()

    judges = frozen(model.d_normal), frozen(model.d_anomaly)
    normal_terms = normal_generator_terms(model, x, recon, n_normal, params, judges[0])
    anomaly_terms = anomaly_generator_terms(anomaly, recon_anomaly, params, judges[1])
    opt_g.zero_grad()
    backward(normal_terms.pop("loss") + anomaly_terms.pop("loss"))
    opt_g.step()
    return {"d_normal": d_normal.detach(), "d_anomaly": d_anomaly.detach(),
            **{k: v.detach() for k, v in (normal_terms | anomaly_terms).items()}}
