"""IDX parsing: every malformed file gets a message that names the file and the problem."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from fmnist_ad.idx import IdxError, encode_idx, parse_idx, read_split


def test_roundtrip() -> None:
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    np.testing.assert_array_equal(parse_idx(encode_idx(images), "x", 3), images)


@pytest.mark.parametrize(("content", "message"), [
    (b"\x00\x00", "too short"),
    (struct.pack(">HBB", 0, 0x0D, 3) + b"\x00" * 12, "wrong magic number"),          # float IDX
    (encode_idx(np.zeros((2, 28), np.uint8)), "has 2 dimensions, expected 3"),
    (encode_idx(np.zeros((2, 28, 28), np.uint8))[:-5], "truncated or corrupt"),
])
def test_malformed_content(content: bytes, message: str) -> None:
    with pytest.raises(IdxError, match=message) as err:
        parse_idx(content, "some-file", 3)
    assert "some-file" in str(err.value)


def _write(folder: Path, n_images: int, n_labels: int, label: int = 1) -> None:
    (folder / "train-images-idx3-ubyte").write_bytes(encode_idx(np.zeros((n_images, 28, 28), np.uint8)))
    (folder / "train-labels-idx1-ubyte").write_bytes(encode_idx(np.full(n_labels, label, np.uint8)))


def test_image_and_label_counts_must_match(tmp_path: Path) -> None:
    _write(tmp_path, 3, 4)
    with pytest.raises(IdxError, match="3 images but 4 labels"):
        read_split(tmp_path, "train")


def test_label_out_of_range(tmp_path: Path) -> None:
    _write(tmp_path, 3, 3, label=12)
    with pytest.raises(IdxError, match="label 12 out of range"):
        read_split(tmp_path, "train")


def test_missing_file_says_which_stage_to_run(tmp_path: Path) -> None:
    with pytest.raises(IdxError, match="missing; run the `download` stage"):
        read_split(tmp_path, "t10k")
