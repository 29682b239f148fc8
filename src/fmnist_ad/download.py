"""Stage `download`: put the four verified FashionMNIST IDX files into ``data/raw/``.

Sources are tried in order: the local mirror folders of ``data.mirrors`` (a Debian package,
a shared drive, ``$FASHION_MNIST_DIR``), then the official download through torchvision. A
source that is missing, incomplete or corrupt is logged and skipped; when none verifies, one
error lists each source's problem.
Each file's *decompressed* content is checked against a pinned SHA-256, because mirrors
recompress the archives and so their ``.gz`` bytes differ.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from fmnist_ad.atomic import atomic_dir
from fmnist_ad.errors import UserError
from fmnist_ad.idx import IdxError, decompress, parse_idx, sha256
from fmnist_ad.params.sections import IDX_FILES, DataParams

log = logging.getLogger(__name__)


class DownloadError(UserError, RuntimeError):
    """No source supplied a verified copy of the dataset."""


@dataclass(frozen=True)
class Source:
    """A folder holding the IDX files (``.gz`` or plain), and where it came from."""

    folder: Path
    origin: str


def mirror_folders(mirrors: list[str]) -> list[Source]:
    """Expand ``$VARS`` in the configured mirrors, skipping those whose variable is unset."""
    sources = []
    for entry in mirrors:
        expanded = os.path.expandvars(os.path.expanduser(entry))
        if "$" in expanded or not expanded.strip():
            log.info("mirror %s skipped: variable not set", entry)
            continue
        sources.append(Source(Path(expanded), f"mirror {expanded} (params data.mirrors: {entry})"))
    return sources


def _find(folder: Path, name: str) -> Path | None:
    for candidate in (folder / f"{name}.gz", folder / name):
        if candidate.is_file():
            return candidate
    return None


def verified_content(path: Path, name: str, expected: str, origin: str) -> bytes:
    """Decompress ``path``, check its digest and IDX structure, or raise naming all three."""
    try:
        content = decompress(path)
    except IdxError as err:
        raise IdxError(f"{err} (source: {origin})") from None
    actual = sha256(content)
    if actual != expected:
        raise IdxError(
            f"{path}: SHA-256 of the decompressed content is {actual}, expected {expected} "
            f"(data.sha256.{name}); the file is corrupt, truncated or not the official release "
            f"(source: {origin}). Replace it, or override the digest in params.yaml if this is "
            "deliberately another dataset in IDX format."
        )
    parse_idx(content, str(path), 3 if "images" in name else 1)
    return content


def _from_folder(source: Source, digests: dict[str, str]) -> dict[str, bytes] | None:
    found = {name: _find(source.folder, name) for name in IDX_FILES}
    if not all(found.values()):
        missing = [n for n, p in found.items() if p is None]
        log.info("%s: missing %s, trying the next source", source.origin, missing)
        return None
    return {
        name: verified_content(path, name, digests[name], source.origin)
        for name, path in found.items()
        if path is not None
    }


def _official(digests: dict[str, str]) -> dict[str, bytes]:
    from torchvision.datasets import FashionMNIST
    from torchvision.datasets.utils import download_url

    with tempfile.TemporaryDirectory() as tmp:
        errors = []
        for mirror in FashionMNIST.mirrors:
            try:
                for filename, md5 in FashionMNIST.resources:
                    download_url(f"{mirror}{filename}", tmp, filename, md5)
                source = Source(Path(tmp), f"official download {mirror}")
                result = _from_folder(source, digests)
                if result is not None:
                    return result
            except (OSError, RuntimeError, IdxError) as err:  # urllib errors are OSErrors
                errors.append(f"{mirror}: {err}")
        raise DownloadError("; ".join(errors))


def fetch(params: DataParams, out_dir: Path) -> str:
    """Write the four verified, decompressed IDX files to ``out_dir``; return the origin used."""
    digests = params.sha256
    tried = []
    for source in mirror_folders(params.mirrors):
        if not source.folder.is_dir():
            tried.append(f"{source.folder} (no such folder)")
            continue
        try:
            contents = _from_folder(source, digests)
        except IdxError as err:  # a corrupt copy: say so, and try the next source
            log.warning("%s; trying the next source", err)
            tried.append(f"{source.folder} ({err})")
            continue
        if contents is not None:
            _write(contents, out_dir)
            return source.origin
        tried.append(f"{source.folder} (incomplete)")
    if params.download:
        try:
            contents = _official(digests)
        except DownloadError as err:
            tried.append(f"official download ({err})")
        else:
            _write(contents, out_dir)
            return "official download"
    else:
        tried.append("official download (disabled: data.download is false)")
    raise DownloadError(
        "FashionMNIST not found. Tried: " + "; ".join(tried) + ". Get a verified copy one of these ways: "
        "connect to the internet (official download through torchvision); on Debian, "
        "`apt-get install dataset-fashion-mnist` (files in /usr/share/datasets/fashion-mnist); "
        "or put the four IDX files (.gz or plain) in a folder and set FASHION_MNIST_DIR to it."
    )


def _write(contents: dict[str, bytes], out_dir: Path) -> None:
    with atomic_dir(out_dir) as tmp:
        for name, content in contents.items():
            (tmp / name).write_bytes(content)
