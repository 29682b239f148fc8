"""Reading and writing IDX files (the MNIST/FashionMNIST format), with errors that say what is wrong.

IDX: a 4-byte magic (0, 0, dtype code, number of dims), big-endian uint32 dims, raw data.
FashionMNIST uses unsigned bytes (code 0x08): labels are 1-d, images 3-d (N, 28, 28).
"""

from __future__ import annotations

import gzip
import hashlib
import struct
import zlib
from pathlib import Path

import numpy as np

from fmnist_ad.errors import UserError


class IdxError(UserError, ValueError):
    """An IDX file is missing, truncated or malformed."""


UBYTE = 0x08


def decompress(path: Path) -> bytes:
    """Return the content of ``path``, gunzipped when it ends in ``.gz``."""
    data = path.read_bytes()
    if path.suffix != ".gz":
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as err:
        raise IdxError(
            f"{path}: not a valid gzip file ({err}); the download is probably truncated or "
            "corrupt, delete it and fetch it again"
        ) from None


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def parse_idx(content: bytes, name: str, ndim: int) -> np.ndarray:
    """Parse IDX bytes into a uint8 array, checking magic, dims and length."""
    if len(content) < 4:
        raise IdxError(f"{name}: only {len(content)} bytes, too short for an IDX header")
    zero, code, dims = struct.unpack(">HBB", content[:4])
    if zero != 0 or code != UBYTE:
        raise IdxError(
            f"{name}: wrong magic number 0x{content[:4].hex()} (expected 0x0000080{ndim}): "
            "not an unsigned-byte IDX file"
        )
    if dims != ndim:
        raise IdxError(f"{name}: has {dims} dimensions, expected {ndim}")
    header = 4 + 4 * dims
    if len(content) < header:
        raise IdxError(f"{name}: truncated header")
    shape = struct.unpack(f">{dims}I", content[4:header])
    expected = header + int(np.prod(shape))
    if len(content) != expected:
        raise IdxError(
            f"{name}: {len(content)} bytes but the header {shape} needs {expected}; "
            "the file is truncated or corrupt"
        )
    return np.frombuffer(content, dtype=np.uint8, offset=header).reshape(shape)


def encode_idx(array: np.ndarray) -> bytes:
    """Encode a uint8 array as IDX bytes (used by tests and synthetic mirrors)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    return struct.pack(">HBB", 0, UBYTE, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def read_split(raw_dir: Path, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """Read ``{prefix}-images-idx3-ubyte`` and ``{prefix}-labels-idx1-ubyte`` from ``raw_dir``."""
    paths = [raw_dir / f"{prefix}-images-idx3-ubyte", raw_dir / f"{prefix}-labels-idx1-ubyte"]
    for path in paths:
        if not path.is_file():
            raise IdxError(f"{path}: missing; run the `download` stage first (dvc repro download)")
    images = parse_idx(paths[0].read_bytes(), str(paths[0]), 3)
    labels = parse_idx(paths[1].read_bytes(), str(paths[1]), 1)
    if images.shape[0] != labels.shape[0]:
        raise IdxError(
            f"{raw_dir}: {prefix} has {images.shape[0]} images but {labels.shape[0]} labels; "
            "the files do not belong together"
        )
    if labels.size and labels.max() > 9:
        raise IdxError(f"{paths[1]}: label {labels.max()} out of range 0-9")
    return images, labels
