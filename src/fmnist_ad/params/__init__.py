"""The schema of ``params.yaml``, validated at the start of every stage: the shared sections
(:mod:`fmnist_ad.params.sections`) and one section per registered detector.

Every problem is reported at once, each naming its key (``ae.lr``) and what would fix it, so a
typo in ``dvc exp run -S`` fails in a second instead of after an hour of training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError, create_model

from fmnist_ad.detectors import DETECTORS, params_class
from fmnist_ad.errors import UserError
from fmnist_ad.params.sections import DataParams, ProtocolParams, Section


class ParamsError(UserError, ValueError):
    """``params.yaml`` is invalid; the message lists every problem with its key."""


#: the whole file: ``data``, ``protocol`` and each detector's section under its registered name
Params = create_model("Params", __base__=Section, data=(DataParams, ...), protocol=(ProtocolParams, ...),
                      **{name: (params_class(name), ...) for name in DETECTORS})


def _format_errors(err: ValidationError, source: str) -> str:
    lines = [f"{source}: {err.error_count()} invalid parameter(s):"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key (typo?); remove it or use one of the documented keys"
        elif e["type"] == "missing":
            msg = "required key is missing"
        got = e.get("input")
        got_text = f" (got {got!r})" if e["type"] not in ("missing", "extra_forbidden") and not isinstance(got, dict) else ""
        lines.append(f"  - {key}: {msg}{got_text}")
    return "\n".join(lines)


def parse_params(raw: Any, source: str = "params.yaml") -> Params:
    """Validate an already-loaded mapping; raise :class:`ParamsError` listing every problem."""
    if not isinstance(raw, dict):
        raise ParamsError(f"{source}: expected a mapping of sections at the top level, got {type(raw).__name__}")
    try:
        return Params.model_validate(raw)
    except ValidationError as err:
        raise ParamsError(_format_errors(err, source)) from None


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate ``params.yaml``."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: parameters file not found; run from the repository root or pass --params")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {err}") from None
    return parse_params(raw, str(path))
