"""Faults, resuming, determinism, integrity and multi-process training."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from conftest import REPO, small_params
from fmnist_ad.detectors import DETECTORS, NETWORKS, detector_class
from fmnist_ad.detectors.base import CheckpointError
from fmnist_ad.download import fetch
from fmnist_ad.params import parse_params
from fmnist_ad.pipeline.threshold import run_threshold
from fmnist_ad.pipeline.train import run_train
from fmnist_ad.prepare import load_splits, prepare
from fmnist_ad.training import NonFiniteLossError, fit


@pytest.fixture(scope="module")
def workspace(mirror, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small params (AE/VAE with roomy patience) and prepared synthetic splits."""
    folder, digests = mirror
    root = tmp_path_factory.mktemp("reliability")
    raw = small_params(folder, digests)
    raw["ae"].update(epochs=4, patience=10, channels=[8, 16, 32])
    raw["vae"].update(epochs=4, patience=10, channels=[8, 16], hidden=32, lr=1e-3)
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    params = parse_params(raw)
    fetch(params.data, root / "raw")
    prepare(root / "raw", root / "prepared", params.protocol)
    return root


def _section(root: Path, model: str, **update):
    params = parse_params(yaml.safe_load((root / "params.yaml").read_text()))
    return getattr(params, model).model_copy(update=update)


def test_nan_loss_stops_training_and_writes_nothing(workspace: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    def nan_loss(model, x):
        return {"loss": model(x).mean() * float("nan")}

    monkeypatch.setattr("fmnist_ad.detectors.ae.detector.ae_loss", nan_loss)
    with pytest.raises(NonFiniteLossError, match=r"'loss' became nan at epoch 0, batch 0"):
        run_train(workspace / "params.yaml", "ae", workspace / "prepared", tmp_path / "model",
                  tmp_path / "info.json", tmp_path / "curves", work_root=tmp_path / "work")
    assert not (tmp_path / "model").exists() and not (tmp_path / "info.json").exists()
    assert not (tmp_path / "curves").exists()


@pytest.mark.parametrize("defer", [False, True])
def test_finite_loss_guard_names_the_first_bad_batch(defer: bool) -> None:
    """Checked at once (CPU losses) or once per epoch at its last batch (GPU losses, forced here):
    either way the error names the batch whose loss first went non-finite, before validation."""
    import lightning.pytorch as L

    from fmnist_ad.tensors import batch_loader
    from fmnist_ad.training import FiniteLossGuard, LossModule

    seen: list[int] = []

    def loss_fn(model, x):
        seen.append(len(seen))
        loss = model(x).mean()
        return {"loss": loss * float("nan") if len(seen) in (2, 3) else loss}

    module = LossModule(torch.nn.Linear(4, 1), loss_fn, lr=1e-3, weight_decay=0.0)
    module.validation_step = lambda *args: pytest.fail("validation ran after a non-finite loss")
    loader = batch_loader(torch.rand(16, 4), batch_size=4, shuffle=True)
    trainer = L.Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                        callbacks=[FiniteLossGuard(defer=defer)])
    with pytest.raises(NonFiniteLossError, match=r"'loss' became nan at epoch 0, batch 1;"):
        trainer.fit(module, loader, loader)
    assert len(seen) == (4 if defer else 2)


@pytest.mark.parametrize("model", NETWORKS)
def test_resume_gives_the_uninterrupted_result(workspace: Path, tmp_path: Path, model: str) -> None:
    """The GAN too, which trains without early stopping (that the resume starts from the last
    epoch rather than the best is checked in test_gan)."""
    splits = load_splits(workspace / "prepared")
    test_images = splits["test"].images
    cls = detector_class(model)
    full = cls(_section(workspace, model, epochs=4))
    fit(full, splits, tmp_path / "full", progress_bar=False)
    # "interrupted" after 2 epochs, then resumed from the last checkpoint up to 4
    fit(cls(_section(workspace, model, epochs=2)), splits, tmp_path / "cut", progress_bar=False)
    resumed = cls(_section(workspace, model, epochs=4))
    info = fit(resumed, splits, tmp_path / "cut", resume=True, progress_bar=False)
    assert info["resumed"] and info["epochs"] == 4
    for name, values in full.score_samples(test_images).items():
        np.testing.assert_allclose(resumed.score_samples(test_images)[name], values, rtol=1e-6, err_msg=name)


def test_training_runs_deterministic_kernels_without_nan_filling(workspace: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """``deterministic=True`` also makes torch fill every new tensor with NaN (a debugging aid
    costing a pass over each tensor); fit turns that part off while training, then restores it."""
    import torch.utils.deterministic

    from fmnist_ad.training import LossModule

    seen: set[tuple[bool, bool]] = set()
    training_step = LossModule.training_step

    def spy(self, batch, batch_idx):
        seen.add((torch.are_deterministic_algorithms_enabled(), torch.utils.deterministic.fill_uninitialized_memory))
        return training_step(self, batch, batch_idx)

    monkeypatch.setattr(LossModule, "training_step", spy)
    fit(detector_class("ae")(_section(workspace, "ae", epochs=1)), load_splits(workspace / "prepared"),
        tmp_path, progress_bar=False)
    assert seen == {(True, False)}
    assert torch.utils.deterministic.fill_uninitialized_memory


@pytest.mark.parametrize("model", list(DETECTORS))
def test_same_seed_same_scores_and_checkpoint_bytes(workspace: Path, tmp_path: Path, model: str) -> None:
    """Bytes too: a checkpoint that differs run to run would make DVC rerun everything downstream."""
    splits = load_splits(workspace / "prepared")
    runs, checkpoints = [], []
    for i in range(2):
        epochs = {"epochs": 1} if model == "gan" else {"epochs": 2} if model in NETWORKS else {}
        detector = detector_class(model)(_section(workspace, model, **epochs))
        detector.fit(splits, tmp_path / str(i), progress_bar=False)
        runs.append(detector.score_samples(splits["test"].images))
        detector.save(tmp_path / str(i) / "model.pt")
        checkpoints.append((tmp_path / str(i) / "model.pt").read_bytes())
    for name in runs[0]:
        assert np.array_equal(runs[0][name], runs[1][name]), name
    assert checkpoints[0] == checkpoints[1]


def test_checkpoint_of_another_detector_is_refused(workspace: Path, tmp_path: Path) -> None:
    vae = detector_class("vae")(_section(workspace, "vae"))
    vae.save(tmp_path / "model.pt")
    with pytest.raises(CheckpointError, match="detector 'vae', expected 'ae'"):
        detector_class("ae").load(tmp_path / "model.pt", _section(workspace, "ae"))
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable checkpoint.*dvc repro train@ae"):
        detector_class("ae").load(tmp_path / "junk.pt", _section(workspace, "ae"))


def test_checkpoint_that_cannot_be_read_does_not_ask_for_retraining(workspace: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    detector_class("ae")(_section(workspace, "ae")).save(tmp_path / "model.pt")

    def denied(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)  # root reads any file, so chmod cannot show it
    with pytest.raises(CheckpointError, match="Permission denied.*permissions") as err:
        detector_class("ae").load(tmp_path / "model.pt", _section(workspace, "ae"))
    assert "repro" not in str(err.value) and isinstance(err.value.__cause__, PermissionError)


def test_thresholds_never_read_the_test_table(workspace: Path, tmp_path: Path) -> None:
    scores = tmp_path / "scores"
    scores.mkdir()
    rng = np.random.default_rng(0)
    rows = ["index,class,label,knn_gap"] + [f"{i},{i % 2},{i % 2},{rng.normal(i % 2)}" for i in range(40)]
    (scores / "val.csv").write_text("\n".join(rows) + "\n")   # no test.csv at all
    (scores / "model.json").write_text(json.dumps({"model": "gan", "checkpoint_sha256": "0" * 64}))
    run_threshold(workspace / "params.yaml", "gan", scores, tmp_path / "t.json")
    assert json.loads((tmp_path / "t.json").read_text())["main_score"] == "knn_gap"


def _train_cli(workspace: Path, out: Path, params: Path, model: str) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", DVC_NO_ANALYTICS="1")
    args = [sys.executable, str(REPO / "stages" / "train.py"), model, str(workspace / "prepared"),
            str(out / "model"), str(out / "info.json"), "--curves", str(out / "curves"), "--params", str(params)]
    proc = subprocess.run(args, cwd=out, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


#: per detector: params for the DDP test and the scores it compares. The GAN uses the report
#: architecture, which has no batch norm: torch's SyncBatchNorm needs GPUs, so on CPU the
#: paper U-Net's ranks would normalise their own half-batches and drift from one process.
DDP_CASES = {
    "ae": ({"epochs": 2}, ("mse", "kde")),
    "vae": ({"epochs": 2, "elbo_samples": 2}, ("bce", "elbo")),
    "gan": ({"epochs": 2, "arch": "conv"}, ("l1", "mse")),
}


@pytest.mark.pipeline
@pytest.mark.parametrize("model", DDP_CASES)
def test_ddp_on_cpu_matches_single_process(workspace: Path, tmp_path: Path, model: str) -> None:
    """`M.devices=2, M.strategy=ddp` (gloo): rank zero alone writes; scores match a
    single-process run to 1e-4 relative or 1e-3 absolute (gradient all-reduce rounds differently).
    Each rank trains on its half of every global batch with that half's share of the noise
    (VAE) and of the augmentation draws, so the two runs take the same steps."""
    update, names = DDP_CASES[model]
    raw = yaml.safe_load((workspace / "params.yaml").read_text())
    raw[model].update(accelerator="cpu", **update)
    results = {}
    for devices, strategy in ((1, "auto"), (2, "ddp")):
        out = tmp_path / f"d{devices}"
        out.mkdir()
        raw[model].update(devices=devices, strategy=strategy)
        (out / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
        _train_cli(workspace, out, out / "params.yaml", model)
        info = json.loads((out / "info.json").read_text())
        assert info["devices"] == devices
        section = getattr(parse_params(raw), model)
        results[devices] = detector_class(model).load(out / "model" / "model.pt", section).score_samples(
            load_splits(workspace / "prepared")["test"].images)
        assert not [p for p in out.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp"]
        assert not (out / "data" / "work" / model).exists()      # work folder removed after publishing
    for name in names:
        np.testing.assert_allclose(results[2][name], results[1][name], rtol=1e-4, atol=1e-3, err_msg=name)
