"""Lightning training of the dual-discriminator GAN: batches of normals and labeled anomalies,
three Adam optimizers stepped by hand, validation AUROC of the main score and of L1."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from fmnist_ad.detectors.gan.knn_gap import KNN_SCORES, KNNGap, columns, knn_features_of
from fmnist_ad.detectors.gan.loss import per_image_l1, per_image_mse
from fmnist_ad.detectors.gan.model import GANModel
from fmnist_ad.detectors.gan.step import gan_step
from fmnist_ad.params.gan import GANParams
from fmnist_ad.training import EpochMeans


def _auroc(labels: np.ndarray, scores: torch.Tensor) -> float:
    """AUROC over the whole validation split (:meth:`GANDetector.loaders` checks it holds both classes)."""
    return float(roc_auc_score(labels, scores.double().numpy()))


class GANModule(EpochMeans):
    """On each batch of normals and labeled anomalies, one step of both discriminators, then one
    generator step (:func:`~fmnist_ad.detectors.gan.step.gan_step`).

    Validation logs ``val/auroc``, the AUROC of the main score (the checkpoint monitor), and
    ``val/auroc_l1``, the paper's reconstruction score. For the kNN gaps it needs ``references``,
    the training normals and labeled anomalies, whose vectors it recomputes each epoch.
    """

    def __init__(self, model: GANModel, params: GANParams, references: tuple[torch.Tensor, torch.Tensor]) -> None:
        super().__init__()
        self.model = model
        self.params = params
        self.references = references
        self.automatic_optimization = False
        self.augment_rng = torch.Generator().manual_seed(params.seed) if params.augment else None
        self._val: dict[str, list[torch.Tensor]] = {}

    def training_step(self, batch: tuple[torch.Tensor, int], batch_idx: int) -> dict[str, torch.Tensor]:
        x, n_normal = batch
        logged = gan_step(self.model, self.params, x, n_normal, self.optimizers(), self.manual_backward,
                          self.augment_rng)
        self.accumulate("train", logged, len(x))
        return logged

    def on_train_epoch_start(self) -> None:
        """Augmentation drawn from (seed, epoch): a resumed run augments like an uninterrupted one."""
        if self.augment_rng is not None:
            self.augment_rng.manual_seed(self.params.seed + self.current_epoch)

    def on_train_epoch_end(self) -> None:
        self.log_epoch_means("train", prog_bar=())
        for scheduler in self.lr_schedulers():
            scheduler.step()

    def on_validation_epoch_start(self) -> None:
        self._val = {"labels": [], "l1": [], self.params.main_score: []}

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        """Keeps the labels, ``l1`` and what the main score needs: ``mse``, or the kNN vectors."""
        x, labels = batch
        x_in, recon, features = self.model.reconstruct_with_features(x)
        main = self.params.main_score
        kept = {"labels": labels, "l1": per_image_l1(x_in, recon)}
        if main in KNN_SCORES:
            kept[main] = features
        elif main == "mse":
            kept[main] = per_image_mse(x_in, recon)
        for name, value in kept.items():
            self._val[name].append(value.cpu())

    def on_validation_epoch_end(self) -> None:
        labels = torch.cat(self._val["labels"]).numpy()
        main = self.params.main_score
        values = {name: torch.cat(parts) for name, parts in self._val.items() if name != "labels"}
        if main in KNN_SCORES:
            values[main] = self._knn_gap(main, values[main])
        self.log("val/auroc", _auroc(labels, values[main]), prog_bar=True, sync_dist=True)  # same on every rank
        self.log("val/auroc_l1", _auroc(labels, values["l1"]), sync_dist=True)

    def _knn_gap(self, score: str, features: torch.Tensor) -> torch.Tensor:
        """Gap ``score`` of validation vectors against this epoch's vectors of the training images."""
        normal, anomaly = (columns(knn_features_of(self.model, images, self.params.eval_batch_size, self.device), score)
                           for images in self.references)
        return KNNGap(self.params.knn_k).fit(normal, anomaly).score(columns(features, score).to(self.device)).cpu()

    def configure_optimizers(self):
        optimizers = gan_optimizers(self.model, self.params)
        schedulers = [torch.optim.lr_scheduler.StepLR(opt, step_size=self.params.lr_step, gamma=0.5)
                      for opt in optimizers]
        return optimizers, schedulers


def gan_optimizers(model: GANModel, params: GANParams) -> list[torch.optim.Optimizer]:
    """Adam for G, D_n and D_a, in :func:`~fmnist_ad.detectors.gan.step.gan_step`'s order. Fused:
    one kernel per optimizer instead of a dozen small ops per tensor (the step 6% faster)."""
    return [torch.optim.Adam(net.parameters(), lr=params.lr, betas=tuple(params.betas),
                             weight_decay=params.weight_decay, fused=True)
            for net in (model.generator, model.d_normal, model.d_anomaly)]
