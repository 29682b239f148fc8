"""Stage `download`: mirrors, digests, corrupt files, nothing half-written."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from conftest import write_mirror
from fmnist_ad.download import DownloadError, fetch
from fmnist_ad.idx import IdxError, decompress, sha256
from fmnist_ad.params.sections import IDX_FILES, DataParams


def _params(mirrors: list[str], digests: dict[str, str]) -> DataParams:
    return DataParams(mirrors=mirrors, download=False, sha256=digests)


def test_fetch_from_mirror_writes_verified_files(mirror, tmp_path: Path) -> None:
    folder, digests = mirror
    origin = fetch(_params(["$FMNIST_AD_UNSET_VAR", str(tmp_path / "absent"), str(folder)], digests), tmp_path / "raw")
    assert str(folder) in origin
    for name in IDX_FILES:
        assert sha256((tmp_path / "raw" / name).read_bytes()) == digests[name]
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == sorted(IDX_FILES)


def test_env_var_mirror(mirror, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder, digests = mirror
    monkeypatch.setenv("FASHION_MNIST_DIR", str(folder))
    assert str(folder) in fetch(_params(["$FASHION_MNIST_DIR"], digests), tmp_path / "raw")


def test_digest_mismatch_names_file_digests_and_source(tmp_path: Path) -> None:
    digests = write_mirror(tmp_path / "m")
    wrong = dict(digests, **{"t10k-labels-idx1-ubyte": "0" * 64})
    with pytest.raises(DownloadError) as err:
        fetch(_params([str(tmp_path / "m")], wrong), tmp_path / "raw")
    msg = str(err.value)
    assert "t10k-labels-idx1-ubyte" in msg and "0" * 64 in msg and digests["t10k-labels-idx1-ubyte"] in msg
    assert str(tmp_path / "m") in msg
    assert not (tmp_path / "raw").exists()


def test_truncated_gzip_is_reported_and_nothing_written(tmp_path: Path) -> None:
    digests = write_mirror(tmp_path / "m")
    path = tmp_path / "m" / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(DownloadError, match="train-images-idx3-ubyte.gz.*(truncated|corrupt)"):
        fetch(_params([str(tmp_path / "m")], digests), tmp_path / "raw")
    assert not (tmp_path / "raw").exists()


def test_existing_output_survives_a_failed_fetch(mirror, tmp_path: Path) -> None:
    folder, digests = mirror
    fetch(_params([str(folder)], digests), tmp_path / "raw")
    with pytest.raises(DownloadError):
        fetch(_params([str(folder)], dict(digests, **{"train-labels-idx1-ubyte": "f" * 64})), tmp_path / "raw")
    assert sha256((tmp_path / "raw" / "train-labels-idx1-ubyte").read_bytes()) == digests["train-labels-idx1-ubyte"]


def _corrupt_mirror(folder: Path, good: Path, bad: tuple[str, ...]) -> Path:
    """A copy of the mirror ``good`` whose files ``bad`` are not gzip."""
    folder.mkdir()
    for name in IDX_FILES:
        (folder / f"{name}.gz").write_bytes(b"not gzip" if name in bad else (good / f"{name}.gz").read_bytes())
    return folder


def test_corrupt_source_is_skipped_for_the_next_one(mirror, tmp_path: Path) -> None:
    folder, digests = mirror
    corrupt = _corrupt_mirror(tmp_path / "corrupt", folder, ("train-labels-idx1-ubyte",))
    assert str(folder) in fetch(_params([str(corrupt), str(folder)], digests), tmp_path / "raw")
    assert sha256((tmp_path / "raw" / "train-labels-idx1-ubyte").read_bytes()) == digests["train-labels-idx1-ubyte"]


def test_when_no_source_verifies_one_message_lists_each_problem(mirror, tmp_path: Path) -> None:
    folder, digests = mirror
    corrupt = _corrupt_mirror(tmp_path / "corrupt", folder, IDX_FILES)
    wrong = dict(digests, **{"train-images-idx3-ubyte": "0" * 64})
    with pytest.raises(DownloadError) as err:
        fetch(_params([str(corrupt), str(tmp_path / "absent"), str(folder)], wrong), tmp_path / "raw")
    msg = str(err.value)
    assert "not a valid gzip" in msg and "no such folder" in msg and "0" * 64 in msg
    assert msg.index(str(corrupt)) < msg.index(str(tmp_path / "absent")) < msg.index("0" * 64)
    assert not (tmp_path / "raw").exists()


def test_no_source_explains_how_to_get_one(tmp_path: Path, mirror) -> None:
    _, digests = mirror
    with pytest.raises(DownloadError) as err:
        fetch(_params([str(tmp_path / "nowhere")], digests), tmp_path / "raw")
    msg = str(err.value)
    assert "dataset-fashion-mnist" in msg and "FASHION_MNIST_DIR" in msg and "internet" in msg


def test_plain_uncompressed_mirror_is_accepted(tmp_path: Path) -> None:
    digests = write_mirror(tmp_path / "gz")
    (tmp_path / "plain").mkdir()
    for name in IDX_FILES:
        (tmp_path / "plain" / name).write_bytes(gzip.decompress((tmp_path / "gz" / f"{name}.gz").read_bytes()))
    fetch(_params([str(tmp_path / "plain")], digests), tmp_path / "raw")


def test_bad_gzip_error(tmp_path: Path) -> None:
    bad = tmp_path / "x.gz"
    bad.write_bytes(b"not gzip at all")
    with pytest.raises(IdxError, match="not a valid gzip"):
        decompress(bad)
