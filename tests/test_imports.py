"""Stages import only what they use: each `dvc repro` stage is a new process, and importing
Lightning costs ~5 s and torch ~2 s on a 2-core CPU, which stages that only read tables and
write JSON used to pay every time (~1/6 of a default `dvc repro`)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO
from fmnist_ad.detectors import DETECTORS


def loaded_after(code: str) -> set[str]:
    """Top-level packages in sys.modules after running ``code`` in a fresh interpreter."""
    probe = f"{code}\nimport sys\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_stage_entry_points_import_neither_torch_nor_lightning() -> None:
    """What every stage script imports (download, prepare, threshold, evaluate and compare stop there)."""
    loaded = loaded_after("import fmnist_ad.pipeline.entry, fmnist_ad.pipeline.download, fmnist_ad.pipeline.prepare, "
                          "fmnist_ad.pipeline.threshold, fmnist_ad.pipeline.evaluate, fmnist_ad.compare")
    assert not loaded & {"torch", "lightning", "dvclive"}


@pytest.mark.parametrize("name", list(DETECTORS))
def test_loading_a_detector_for_scoring_does_not_import_lightning(name: str) -> None:
    loaded = loaded_after(f"from fmnist_ad.detectors import detector_class\ndetector_class({name!r})")
    assert "torch" in loaded and not loaded & {"lightning", "dvclive"}


def test_training_imports_lightning() -> None:
    """The probe above can see Lightning when it is loaded."""
    assert "lightning" in loaded_after("import fmnist_ad.training")


def test_a_training_stage_prints_each_lightning_line_once_and_no_advert() -> None:
    """Stages log through the root handler and Lightning through its own: one copy of each line."""
    probe = ("from fmnist_ad.pipeline.entry import main\n"
             "def run():\n"
             "    import fmnist_ad.training\n"
             "    from lightning.pytorch.utilities import rank_zero_info\n"
             "    rank_zero_info('GPU available: probe')\n"
             "    rank_zero_info('\U0001F4A1 Tip: try our cloud')\n"
             "main(run)")
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    text = out.stdout + out.stderr
    assert text.count("GPU available: probe") == 1 and "Tip" not in text


def test_dvc_reads_yaml_with_the_c_loader() -> None:
    """DVC parses every dvc.lock of the repository on each command; with ruamel.yaml's pure-Python
    parser a no-op `dvc repro` took 7.4 s here instead of 3.9 s (docs/speed.md, Targets)."""
    from dvc.utils.serialize._yaml import parse_yaml
    from ruamel.yaml import YAML
    from ruamel.yaml.main import CParser

    assert CParser is not None and YAML(typ="safe").Parser is CParser
    assert parse_yaml("stages: {a: {cmd: x}}", "dvc.lock") == {"stages": {"a": {"cmd": "x"}}}
