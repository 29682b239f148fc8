"""`fmnist-ad score`: new images from files scored like the pipeline scores its splits, and every
kind of bad input refused with one line naming the file, exit code 2 and no output."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import synthetic_images
from fmnist_ad import load_detector
from fmnist_ad.cli import main
from fmnist_ad.detectors.ae.detector import AEDetector
from fmnist_ad.idx import encode_idx
from fmnist_ad.params.ae import AEParams
from fmnist_ad.pipeline.score import score_table
from fmnist_ad.prepare import Split
from fmnist_ad.thresholds import fit_thresholds

CLASSES = np.repeat(np.arange(3, dtype=np.uint8), 6)


def _split(classes: np.ndarray, seed: int) -> Split:
    labels = (classes != 0).astype(np.uint8)
    return Split(synthetic_images(classes, seed), classes, labels, np.arange(len(classes)))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, np.ndarray]:
    """An AE (untrained weights, fitted KDE) saved as the pipeline saves it, with thresholds
    fitted on its validation scores; and test images."""
    root = tmp_path_factory.mktemp("cli")
    detector = AEDetector(AEParams(channels=[4, 8, 8], eval_batch_size=8))
    splits = {"train": _split(np.zeros(24, np.uint8), 0), "labeled": _split(np.zeros(0, np.uint8), 1),
              "val": _split(CLASSES, 2)}
    detector.after_fit(splits)
    model_dir = root / "models" / "ae"
    model_dir.mkdir(parents=True)
    detector.save(model_dir / "model.pt")
    val = score_table(detector, splits["val"])
    digest = hashlib.sha256((model_dir / "model.pt").read_bytes()).hexdigest()
    thresholds = root / "ae.json"
    thresholds.write_text(json.dumps({"model": "ae", "checkpoint_sha256": digest,
                                      **fit_thresholds(val, "combined", detector.params.threshold)}))
    return model_dir, thresholds, synthetic_images(CLASSES, 3)


def _score(args: list[str], capsys: pytest.CaptureFixture) -> tuple[pd.DataFrame, str]:
    main(["score", "--detector", "ae", *args])
    captured = capsys.readouterr()
    from io import StringIO
    return pd.read_csv(StringIO(captured.out)), captured.err


def test_npy_scores_equal_the_detector_and_verdicts_follow_the_rule(trained, tmp_path, capsys) -> None:
    model_dir, thresholds, images = trained
    np.save(tmp_path / "x.npy", images)
    table, err = _score([str(tmp_path / "x.npy"), "--model-dir", str(model_dir), "--thresholds",
                         str(thresholds), "--rule", "mcc"], capsys)
    detector = load_detector("ae", model_dir, thresholds)
    expected = detector.score_samples(images)
    for name in ("mse", "kde", "combined"):
        np.testing.assert_allclose(table[name], expected[name], rtol=1e-6)
    np.testing.assert_allclose(table["main_score"], expected["combined"], rtol=1e-6)
    assert table["anomalous_mcc"].tolist() == detector.predict(images, rule="mcc").tolist()
    assert table["index"].tolist() == list(range(len(images))) and f"{len(images)} images" in err
    assert detector.decision_function(images).tolist() == expected["combined"].tolist()


def test_png_jpeg_npy_idx_and_float_give_the_same_scores(trained, tmp_path, capsys) -> None:
    model_dir, thresholds, images = trained
    opts = ["--model-dir", str(model_dir), "--thresholds", str(thresholds)]
    pngs, jpgs = tmp_path / "png", tmp_path / "jpg"
    pngs.mkdir(), jpgs.mkdir()
    for i, img in enumerate(images):
        Image.fromarray(img).convert("RGB").save(pngs / f"{i:02d}.png")      # colour -> grey
        Image.fromarray(img).save(jpgs / f"{i:02d}.jpg", quality=100, subsampling=0)
    np.save(tmp_path / "x.npy", images)
    np.save(tmp_path / "x_float.npy", images[:, None].astype(np.float32) / 255)
    (tmp_path / "x-idx3-ubyte.gz").write_bytes(gzip.compress(encode_idx(images)))
    reference, _ = _score([str(tmp_path / "x.npy"), *opts], capsys)
    for source in (pngs, tmp_path / "x_float.npy", tmp_path / "x-idx3-ubyte.gz"):
        table, _ = _score([str(source), *opts], capsys)
        np.testing.assert_allclose(table["combined"], reference["combined"], rtol=1e-6, err_msg=str(source))
    jpeg, _ = _score([str(jpgs), *opts], capsys)   # lossy: close, not equal
    np.testing.assert_allclose(jpeg["mse"], reference["mse"], rtol=0.05)


def test_out_file_and_resize(trained, tmp_path, capsys) -> None:
    model_dir, thresholds, images = trained
    big = tmp_path / "big.png"
    Image.fromarray(images[0]).resize((56, 56)).save(big)
    opts = ["--model-dir", str(model_dir), "--thresholds", str(thresholds)]
    out = tmp_path / "scores.csv"
    main(["score", "--detector", "ae", str(big), "--resize", "--out", str(out), *opts])
    table = pd.read_csv(out)
    assert len(table) == 1 and table["source"][0] == str(big) and "anomalous_fpr" in table


def _bad_cases(tmp_path: Path, images: np.ndarray) -> dict[str, tuple[list[str], str]]:
    (tmp_path / "empty").mkdir()
    (tmp_path / "zero.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("not an image")
    (tmp_path / "notes.txt").write_text("hello")
    np.save(tmp_path / "shape.npy", images[:, :20])
    np.save(tmp_path / "dtype.npy", images.astype(np.int32))
    nan = images.astype(np.float32) / 255
    nan[0, 0, 0] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    np.save(tmp_path / "range.npy", images.astype(np.float32))
    Image.fromarray(images[0]).resize((32, 32)).save(tmp_path / "big.png")
    (tmp_path / "bad-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03\x00")
    png = tmp_path / "good.png"
    Image.fromarray(images[0]).save(png)
    content = png.read_bytes()  # the second chunk's length zeroed: Pillow raises SyntaxError
    (tmp_path / "bad-chunk.png").write_bytes(content[:33] + b"\x00" * 4 + content[37:])
    (tmp_path / "bad.idx3-ubyte.gz").write_bytes(gzip.compress(b"\x00" * 64)[:-6])
    np.save(tmp_path / "good.npy", images)
    return {
        "empty folder": ([str(tmp_path / "empty")], "empty folder"),
        "missing": ([str(tmp_path / "nope.png")], "no such file"),
        "empty file": ([str(tmp_path / "zero.png")], "empty file"),
        "non-image": ([str(tmp_path / "text.png")], "not an image"),
        "unknown kind": ([str(tmp_path / "notes.txt")], "unknown kind of file"),
        "shape": ([str(tmp_path / "shape.npy")], "expected (N, 28, 28)"),
        "dtype": ([str(tmp_path / "dtype.npy")], "dtype int32"),
        "nan": ([str(tmp_path / "nan.npy")], "NaN"),
        "range": ([str(tmp_path / "range.npy")], "expected 0-1"),
        "size": ([str(tmp_path / "big.png")], "--resize"),
        "idx": ([str(tmp_path / "bad-idx3-ubyte")], "truncated header"),
        "corrupt png chunk": ([str(png), str(tmp_path / "bad-chunk.png")], "bad-chunk.png: not an image"),
        "truncated gzip": ([str(tmp_path / "bad.idx3-ubyte.gz")], "bad.idx3-ubyte.gz"),
        "bad among good": ([str(tmp_path / "good.npy"), str(tmp_path / "nan.npy")], "nan.npy"),
    }


def test_bad_inputs_exit_2_with_one_line_and_no_output(trained, tmp_path, capsys) -> None:
    model_dir, thresholds, images = trained
    out = tmp_path / "out.csv"
    opts = ["--model-dir", str(model_dir), "--thresholds", str(thresholds), "--out", str(out)]
    for case, (inputs, message) in _bad_cases(tmp_path, images).items():
        with pytest.raises(SystemExit) as exit_info:
            main(["score", "--detector", "ae", *inputs, *opts])
        err = capsys.readouterr().err
        assert exit_info.value.code == 2, case
        assert message in err and err.count("\n") == 1, (case, err)
        assert not out.exists(), case


def test_foreign_model_or_thresholds_are_refused(trained, tmp_path, capsys) -> None:
    model_dir, thresholds, images = trained
    np.save(tmp_path / "x.npy", images)
    fitted = json.loads(thresholds.read_text())
    other_run = tmp_path / "other_run.json"
    other_run.write_text(json.dumps({**fitted, "checkpoint_sha256": "0" * 64}))
    other_model = tmp_path / "gan.json"
    other_model.write_text(json.dumps({**fitted, "model": "gan"}))
    cases = {
        "missing model": (["--model-dir", str(tmp_path / "none"), "--thresholds", str(thresholds)], "checkpoint missing"),
        "another run": (["--model-dir", str(model_dir), "--thresholds", str(other_run)], "another training run"),
        "another detector": (["--model-dir", str(model_dir), "--thresholds", str(other_model)], "detector 'gan'"),
        "no thresholds": (["--model-dir", str(model_dir), "--thresholds", str(tmp_path / "none.json")], "thresholds missing"),
    }
    for case, (opts, message) in cases.items():
        with pytest.raises(SystemExit) as exit_info:
            main(["score", "--detector", "ae", str(tmp_path / "x.npy"), *opts])
        assert exit_info.value.code == 2 and message in capsys.readouterr().err, case
