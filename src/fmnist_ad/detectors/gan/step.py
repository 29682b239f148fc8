"""One training step of Kim et al.'s GAN, shared by the Lightning module and the benchmark's bare loop."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from fmnist_ad.detectors.gan.augment import augment
from fmnist_ad.detectors.gan.loss import anomaly_generator_terms, lsgan_d_loss, normal_generator_terms
from fmnist_ad.detectors.gan.model import GANModel
from fmnist_ad.params.gan import GANParams


def gan_step(model: GANModel, params: GANParams, x: torch.Tensor, n_normal: int,
             optimizers: Sequence[torch.optim.Optimizer], backward: Callable[[torch.Tensor], None],
             augment_rng: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """Update D_n on the batch's normals and D_a on its anomalies (real: the images, fake: their
    reconstructions), then the generator on the normal and the anomaly terms together.

    The generator runs once on the whole batch, so its batch norm sees normals and anomalies
    together in training as the running statistics do in scoring. ``backward`` is Lightning's
    ``manual_backward`` or plain ``Tensor.backward``. Returns the detached terms to log.
    """
    if augment_rng is not None:
        x = augment(x, augment_rng)
    x = model.to_input(x)
    opt_g, opt_normal, opt_anomaly = optimizers
    recon = model.generator(x)
    normal, anomaly = x[:n_normal], x[n_normal:]
    recon_normal, recon_anomaly = recon[:n_normal], recon[n_normal:]

    d_normal = lsgan_d_loss(model.d_normal(normal), model.d_normal(recon_normal.detach()))
    d_anomaly = lsgan_d_loss(model.d_anomaly(anomaly), model.d_anomaly(recon_anomaly.detach()))
    opt_normal.zero_grad()
    opt_anomaly.zero_grad()
    backward(d_normal + d_anomaly)  # disjoint parameters: the sum gives each D its own gradient
    opt_normal.step()
    opt_anomaly.step()

    normal_terms = normal_generator_terms(model, x, recon, n_normal, params)
    anomaly_terms = anomaly_generator_terms(model, anomaly, recon_anomaly, params)
    opt_g.zero_grad()
    backward(normal_terms.pop("loss") + anomaly_terms.pop("loss"))
    opt_g.step()
    return {"d_normal": d_normal.detach(), "d_anomaly": d_anomaly.detach(),
            **{k: v.detach() for k, v in (normal_terms | anomaly_terms).items()}}
