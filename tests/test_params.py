"""params.yaml validation: every problem at once, each naming its key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fmnist_ad.params import ParamsError, load_params, parse_params

REPO = Path(__file__).resolve().parents[1]


def _raw() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())


def test_repo_params_are_valid() -> None:
    params = load_params(REPO / "params.yaml")
    assert params.protocol.normal_classes == [0]


def test_all_problems_reported_at_once() -> None:
    raw = _raw()
    raw["ae"]["lrr"] = 0.1                       # typo
    raw["ae"]["max_epochs"] = 0
    raw["vae"]["batch_size"] = -4
    raw["gan"]["epochs"] = "many"                # wrong type
    raw["protocol"]["anomaly_classes"] = [1, 12]
    raw["protocol"]["train_contamination"] = 1.5
    with pytest.raises(ParamsError) as err:
        parse_params(raw)
    msg = str(err.value)
    for key in ("ae.lrr", "ae.max_epochs", "vae.batch_size", "gan.epochs", "protocol.anomaly_classes.1",
                "protocol.train_contamination"):
        assert key in msg, key
    assert "unknown key" in msg


def test_overlapping_classes() -> None:
    raw = _raw()
    raw["protocol"]["normal_classes"] = [0, 5]
    raw["protocol"]["anomaly_classes"] = [5, 6]
    with pytest.raises(ParamsError, match=r"protocol.*overlap in \[5\]"):
        parse_params(raw)


def test_unknown_main_score_and_missing_section() -> None:
    raw = _raw()
    raw["ae"]["main_score"] = "bce"
    del raw["gan"]
    with pytest.raises(ParamsError) as err:
        parse_params(raw)
    assert "ae: main_score 'bce'" in str(err.value) and "gan: required key is missing" in str(err.value)


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match="not found"):
        load_params(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("ae: [unclosed")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(tmp_path / "bad.yaml")
