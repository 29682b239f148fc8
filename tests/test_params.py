"""params.yaml validation: every problem at once, each naming its key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

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
    raw["ae"]["epochs"] = 0
    raw["vae"]["batch_size"] = -4
    raw["gan"]["epochs"] = "many"                # wrong type
    raw["protocol"]["anomaly_classes"] = [1, 12]
    raw["protocol"]["train_contamination"] = 1.5
    with pytest.raises(ParamsError) as err:
        parse_params(raw)
    msg = str(err.value)
    for key in ("ae.lrr", "ae.epochs", "vae.batch_size", "gan.epochs", "protocol.anomaly_classes.1",
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


def _differing(default: object, shipped: object, key: str) -> list[str]:
    if isinstance(default, BaseModel):
        default = default.model_dump(mode="json")
    if isinstance(default, dict) and isinstance(shipped, dict):
        return [line for name in shipped.keys() & default.keys()
                for line in _differing(default[name], shipped[name], f"{key}.{name}")]
    return [] if default == shipped else [f"{key}: schema default {default!r}, params.yaml {shipped!r}"]


def test_schema_defaults_are_the_shipped_params() -> None:
    """params.yaml is the truth: a default that disagrees would make code and tests that build a
    section from defaults (``GANParams()``) run a configuration nobody ships."""
    params = parse_params(_raw())
    differing = []
    for key, section in params:
        if key == "data":  # machine-local: mirrors and download differ by design
            continue
        shipped = section.model_dump(mode="json")
        for name, field in type(section).model_fields.items():
            if not field.is_required():
                differing += _differing(field.get_default(call_default_factory=True), shipped[name], f"{key}.{name}")
    assert not differing, "\n".join(differing)


def test_old_max_epochs_key_says_it_was_renamed() -> None:
    raw = _raw()
    raw["ae"]["max_epochs"] = 5
    with pytest.raises(ParamsError, match="ae: max_epochs is now called epochs"):
        parse_params(raw)


def test_old_gan_arch_names_say_what_they_became() -> None:
    raw = _raw()
    raw["gan"]["arch"] = "report"
    with pytest.raises(ParamsError, match="arch 'report' is now 'conv'"):
        parse_params(raw)
