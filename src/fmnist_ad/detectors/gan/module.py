"""Lightning training of the dual-discriminator GAN: batches of normals and labeled anomalies,
three Adam optimizers stepped by hand, validation AUROC of the reconstruction score."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from fmnist_ad.detectors.gan.loss import per_image_l1
from fmnist_ad.detectors.gan.model import GANModel
from fmnist_ad.detectors.gan.step import gan_step
from fmnist_ad.params.gan import GANParams
from fmnist_ad.training import EpochMeans


class GANModule(EpochMeans):
    """On each batch of normals and labeled anomalies, one step of both discriminators, then one
    generator step (:func:`~fmnist_ad.detectors.gan.step.gan_step`)."""

    def __init__(self, model: GANModel, params: GANParams) -> None:
        super().__init__()
        self.model = model
        self.params = params
        self.automatic_optimization = False
        self.augment_rng = torch.Generator().manual_seed(params.seed) if params.augment else None
        self._val_scores: list[torch.Tensor] = []
        self._val_labels: list[torch.Tensor] = []

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
        self._val_scores.clear()
        self._val_labels.clear()

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, labels = batch
        x = self.model.to_input(x)
        self._val_scores.append(per_image_l1(x, self.model.generator(x)).cpu())
        self._val_labels.append(labels.cpu())

    def on_validation_epoch_end(self) -> None:
        """AUROC of the per-image L1 score over the whole validation split (0.5 if one class)."""
        scores = torch.cat(self._val_scores).double().numpy()
        labels = torch.cat(self._val_labels).numpy()
        auroc = roc_auc_score(labels, scores) if len(np.unique(labels)) == 2 else 0.5
        self.log("val/auroc", float(auroc), prog_bar=True, sync_dist=True)  # same on every rank

    def configure_optimizers(self):
        p = self.params
        nets = (self.model.generator, self.model.d_normal, self.model.d_anomaly)
        optimizers = [torch.optim.Adam(net.parameters(), lr=p.lr, betas=tuple(p.betas),
                                       weight_decay=p.weight_decay) for net in nets]
        schedulers = [torch.optim.lr_scheduler.StepLR(opt, step_size=p.lr_step, gamma=0.5) for opt in optimizers]
        return optimizers, schedulers
