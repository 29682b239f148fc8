"""Kim et al.'s losses: least-squares GAN for both discriminators; for the generator,
reconstruction, top-n patch, latent and adversarial terms on normal images and the anomaly
adversarial and ABC terms on labeled anomalies."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from fmnist_ad.detectors.gan.model import GANModel
from fmnist_ad.params.gan import GANParams


def per_image_l1(x: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
    return (recon - x).abs().flatten(1).mean(dim=1)


def per_image_mse(x: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
    return (recon - x).pow(2).flatten(1).mean(dim=1)


def lsgan_d_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """Least-squares discriminator loss (Mao et al., with their 1/2): real -> 1, fake -> 0."""
    return 0.5 * ((d_real - 1).pow(2).mean() + d_fake.pow(2).mean())


def lsgan_g_loss(d_fake: torch.Tensor, target: float) -> torch.Tensor:
    """Least-squares generator loss pulling the verdicts on reconstructions to ``target``."""
    return (d_fake - target).pow(2).mean()


def patch_loss(x: torch.Tensor, recon: torch.Tensor, size: int, stride: int, top_n: int) -> torch.Tensor:
    """Mean over images of the mean L1 error of each image's ``top_n`` worst patches: small
    local defects count even when the whole-image error is low."""
    error = (recon - x).abs().mean(dim=1, keepdim=True)
    patches = F.avg_pool2d(error, kernel_size=size, stride=stride).flatten(1)
    return patches.topk(min(top_n, patches.shape[1]), dim=1).values.mean()


def latent_loss(code_x: torch.Tensor, code_recon: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between the codes of an image and of its reconstruction."""
    return (code_x - code_recon).abs().mean()


def abc_loss(l1: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Anomaly-aware bounded loss, -log(1 - exp(-L1)) per image then mean: it falls as an
    anomaly's reconstruction error grows. ``-expm1`` keeps precision near 0, the clamp keeps it
    finite at a perfect reconstruction."""
    return -torch.log(-torch.expm1(-l1.clamp(min=eps))).mean()


def normal_generator_terms(model: GANModel, x: torch.Tensor, recon: torch.Tensor, n_normal: int,
                           params: GANParams, judge: Callable[[torch.Tensor], torch.Tensor]
                           ) -> dict[str, torch.Tensor]:
    """Generator terms on the first ``n_normal`` images of a batch and their weighted sum under
    ``loss``; ``judge`` is the normal discriminator. The latent codes are computed for the whole
    batch, images and reconstructions in one pass, so the encoder's batch norm sees the same
    mixture as in the generator's pass."""
    w, p = params.weights, params.patch
    codes = model.generator.encode(torch.cat([x, recon]))
    x, recon = x[:n_normal], recon[:n_normal]
    terms = {
        "rec": per_image_l1(x, recon).mean(),
        "patch": patch_loss(x, recon, p.size, p.stride, p.top_n),
        "latent": latent_loss(codes[:n_normal], codes[len(codes) // 2:][:n_normal]),
        "adv": lsgan_g_loss(judge(recon), 1.0),
    }
    terms["loss"] = (w.rec * terms["rec"] + w.patch * terms["patch"] + w.latent * terms["latent"]
                     + w.adv * terms["adv"])
    return terms


def anomaly_generator_terms(x: torch.Tensor, recon: torch.Tensor, params: GANParams,
                            judge: Callable[[torch.Tensor], torch.Tensor]) -> dict[str, torch.Tensor]:
    """Generator terms on a labeled-anomaly batch and their weighted sum under ``loss``;
    ``judge`` is the anomaly discriminator."""
    w = params.weights
    terms = {
        "anomaly_adv": lsgan_g_loss(judge(recon), 0.0),
        "abc": abc_loss(per_image_l1(x, recon)),
    }
    terms["loss"] = w.anomaly_adv * terms["anomaly_adv"] + w.abc * terms["abc"]
    return terms
