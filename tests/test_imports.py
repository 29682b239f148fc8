"""Stages import only what they use: each `dvc repro` stage is a new process, and importing
Lightning costs ~5 s and torch ~2 s on a 2-core CPU, which stages that only read tables and
write JSON used to pay every time (~1/6 of a default `dvc repro`)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO


def loaded_after(code: str) -> set[str]:
    """Top-level packages in sys.modules after running ``code`` in a fresh interpreter."""
    probe = f"{code}\nimport sys\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_stage_entry_points_import_neither_torch_nor_lightning() -> None:
    """What every stage script imports (download, prepare, threshold, evaluate and report stop there)."""
    loaded = loaded_after("import fmnist_ad.pipeline.entry, fmnist_ad.pipeline.data, "
                          "fmnist_ad.pipeline.threshold, fmnist_ad.pipeline.evaluate, fmnist_ad.report")
    assert not loaded & {"torch", "lightning", "dvclive"}


@pytest.mark.parametrize("name", ["ae", "vae", "gan"])
def test_loading_a_detector_for_scoring_does_not_import_lightning(name: str) -> None:
    loaded = loaded_after(f"from fmnist_ad.detectors import detector_class\ndetector_class({name!r})")
    assert "torch" in loaded and not loaded & {"lightning", "dvclive"}


def test_training_imports_lightning() -> None:
    """The probe above can see Lightning when it is loaded."""
    assert "lightning" in loaded_after("import fmnist_ad.training")


def test_training_import_keeps_the_nvml_check_only_where_nvml_loads() -> None:
    """Lightning's import sets PYTORCH_NVML_BASED_CUDA_CHECK; ours unsets it where NVML is absent."""
    probe = ("import ctypes, os, fmnist_ad.training\n"
             "try:\n    ctypes.CDLL('libnvidia-ml.so.1'); loads = True\n"
             "except OSError:\n    loads = False\n"
             "print(loads, os.environ.get('PYTORCH_NVML_BASED_CUDA_CHECK'))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    loads, value = out.stdout.split()
    assert value == ("1" if loads == "True" else "None")


@pytest.mark.parametrize("loads", [True, False])
def test_nvml_check_is_dropped_only_when_nvml_cannot_load(monkeypatch: pytest.MonkeyPatch, loads: bool) -> None:
    from fmnist_ad import training

    def cdll(name: str) -> object:
        if not loads:
            raise OSError(f"{name}: cannot open shared object file")
        return object()

    monkeypatch.setattr(training.ctypes, "CDLL", cdll)
    monkeypatch.setenv(training.NVML_CHECK, "1")
    assert training.drop_unloadable_nvml_check() is not loads
    assert (training.NVML_CHECK in training.os.environ) is loads
    monkeypatch.delenv(training.NVML_CHECK, raising=False)
    assert training.drop_unloadable_nvml_check() is False
