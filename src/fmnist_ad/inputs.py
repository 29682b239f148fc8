"""Images from files for scoring: image files Pillow reads, folders of them, ``.npy`` arrays and
IDX files, all read and checked before any scoring so that one bad file fails the run at once.

Arrays (``.npy``, IDX) are converted as a whole, never image by image; image files are decoded
once each.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fmnist_ad.errors import UserError
from fmnist_ad.idx import IdxError, decompress, parse_idx

SIDE = 28
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


class InputError(UserError, ValueError):
    """An input file or folder cannot be scored; the message names it and the fix."""


@dataclass(frozen=True)
class Images:
    """uint8 images (N, 28, 28) with, for each, the file it came from and its index there."""

    pixels: np.ndarray
    sources: list[str]
    indices: np.ndarray


def _is_idx(path: Path) -> bool:
    name = path.name.removesuffix(".gz")
    return "idx3" in name or name.endswith("-ubyte") or path.suffix == ".idx"


def _from_array(array: np.ndarray, path: Path) -> np.ndarray:
    """(N, 28, 28) or (N, 1, 28, 28), uint8 0-255 or float 0-1 -> uint8 (N, 28, 28)."""
    if array.ndim == 4 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 3 or array.shape[1:] != (SIDE, SIDE):
        raise InputError(f"{path}: array of shape {array.shape}; expected (N, 28, 28) or (N, 1, 28, 28)")
    if len(array) == 0:
        raise InputError(f"{path}: holds no images")
    if array.dtype == np.uint8:
        return array
    if not np.issubdtype(array.dtype, np.floating):
        raise InputError(f"{path}: dtype {array.dtype}; expected uint8 (0-255) or float (0-1)")
    if not np.isfinite(array).all():
        raise InputError(f"{path}: holds NaN or infinite values; fix or drop those images")
    if array.min() < 0 or array.max() > 1:
        raise InputError(f"{path}: float values in [{array.min():.3g}, {array.max():.3g}]; expected 0-1 "
                         "(divide 0-255 pixels by 255, or save them as uint8)")
    return np.rint(array * 255).astype(np.uint8)


@contextmanager
def _decoding(path: Path, what: str) -> Iterator[None]:
    """Any failure of a decoder on ``path`` as one :class:`InputError` line naming the file.

    Decoders of malformed files raise whatever their parser trips on (Pillow: ``SyntaxError``
    for a broken PNG chunk, ``struct.error``, ``EOFError`` ...), so every exception counts here.
    """
    try:
        yield
    except InputError:
        raise
    except IdxError as err:
        raise InputError(str(err)) from err
    except Exception as err:  # noqa: BLE001 - see the docstring
        reason = " ".join(str(err).split()) or type(err).__name__
        raise InputError(f"{path}: not {what} ({reason})") from err


def _read_npy(path: Path) -> np.ndarray:
    with _decoding(path, "a readable .npy array"):
        array = np.load(path, allow_pickle=False)
    return _from_array(np.asarray(array), path)


def _read_idx(path: Path) -> np.ndarray:
    with _decoding(path, "a readable IDX file"):
        array = parse_idx(decompress(path), str(path), ndim=3)
    return _from_array(array, path)


def _read_image(path: Path, resize: bool) -> np.ndarray:
    from PIL import Image

    with _decoding(path, "an image Pillow can read"), Image.open(path) as img:
        grey = img.convert("L")
    if grey.size != (SIDE, SIDE):
        if not resize:
            raise InputError(f"{path}: image of {grey.size[0]}x{grey.size[1]} pixels; the detectors take "
                             "28x28, pass --resize to scale it")
        grey = grey.resize((SIDE, SIDE), Image.Resampling.BILINEAR)
    return np.asarray(grey, dtype=np.uint8)[None]


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        if not found:
            raise InputError(f"{path}: empty folder; point at image files, .npy arrays or IDX files")
        return found
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    return [path]


def read_images(inputs: list[Path], resize: bool = False) -> Images:
    """Every image of every input, in order (a folder's files sorted by name)."""
    if not inputs:
        raise InputError("no input given; name image files, folders, .npy arrays or IDX files")
    pixels, sources, indices = [], [], []
    for path in (f for given in inputs for f in _files(Path(given))):
        if path.stat().st_size == 0:
            raise InputError(f"{path}: empty file")
        if path.suffix.lower() == ".npy":
            array = _read_npy(path)
        elif _is_idx(path):
            array = _read_idx(path)
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            array = _read_image(path, resize)
        else:
            raise InputError(f"{path}: unknown kind of file; give images ({', '.join(IMAGE_SUFFIXES)}), "
                             ".npy arrays or IDX files (.gz or not)")
        pixels.append(array)
        sources += [str(path)] * len(array)
        indices.append(np.arange(len(array)))
    return Images(np.concatenate(pixels), sources, np.concatenate(indices))
