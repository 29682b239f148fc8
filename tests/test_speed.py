"""The speed benchmark runs end to end on tiny synthetic data. No timing targets: they depend on the machine."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO

sys.path.insert(0, str(REPO / "measure"))
import speed  # noqa: E402 (measure/speed.py, a script)


def test_speed_rows_for_every_detector(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "speed.json"
    result = speed.main(["--data", "synthetic", "--train-images", "64", "--epochs", "2", "--rounds", "1",
                         "--skip-pipeline", "--json", str(out)])
    assert json.loads(out.read_text()) == result
    rows = result["rows"]
    train = {r["detector"]: r for r in rows if r["section"] == "train"}
    score = {r["detector"]: r for r in rows if r["section"] == "score"}
    assert set(train) == set(score) == set(speed.NETWORKS)
    for row in train.values():
        assert row["lightning_img_s"] > 0 and row["bare_img_s"] > 0 and row["ratio"] > 0
        q1, q3 = row["ratio_quartiles"]
        assert q1 <= row["ratio"] <= q3 and row["pairs"] == 2  # 2 processes x 1 round x 1 steady epoch
        assert row["lightning_peak_mb"] > 0 and row["bare_peak_mb"] > 0
    assert train["gan"]["images_per_epoch"] == 128  # 64 normals + 64 labeled anomalies
    for name, row in score.items():
        assert row["images"] == 1000 and row["img_s"] > 0 and row["peak_mb"] > 0 and row["epoch_s"] > 0
        assert len(row["seconds_each"]) == len(row["bare_epoch_s_each"]) == 3
        assert row["score_per_epoch"] == pytest.approx(row["score_per_bare_epoch"] * train[name]["ratio"])
    kde = {r["precision"]: r for r in rows if r["section"] == "kde"}
    assert set(kde) == {"float32", "float64"} and all(r["queries"] == 1000 for r in kde.values())
    assert kde["float64"]["max_abs_diff"] < 1e-6 and kde["float64"]["torch_direct_diff"] < 1e-6
    assert kde["float32"]["torch_direct_diff"] < 1e-3
    assert not [r for r in rows if r["section"] == "pipeline"]
    printed = capsys.readouterr().out
    assert "lightning/bare" in printed and "sklearn/torch" in printed and "torch threads: 1" in printed


def test_speed_runs_only_the_detectors_asked_for() -> None:
    result = speed.main(["--data", "synthetic", "--train-images", "32", "--epochs", "2", "--skip-pipeline",
                         "--detectors", "vae"])
    assert [(r["section"], r["detector"]) for r in result["rows"]] == [("train", "vae"), ("score", "vae")]
    # two rounds by default: two paired runs per process, every epoch kept (warm-up too)
    train = result["rows"][0]
    assert all(len(runs) == 2 and all(len(run) == 2 for run in runs) for runs in train["epochs_img_s"].values())
    assert [len(run) for run in train["solo_epochs_img_s"].values()] == [2, 2]
    assert train["pairs"] == 4


def test_pipeline_stages_cover_dvc_yaml() -> None:
    spec = yaml.safe_load((REPO / "dvc.yaml").read_text())
    lists = {f"${{{key}}}": value for key, value in spec["vars"][0].items() if isinstance(value, list)}
    lists["${detectors.models}"] = spec["vars"][0]["detectors"]["models"]
    expected = {f"{name}@{item}" if "foreach" in stage else name
                for name, stage in spec["stages"].items() for item in lists.get(stage.get("foreach"), [None])}
    assert sorted(speed.pipeline_stages()) == sorted(expected)


def test_speed_times_dvc_repro_and_keeps_its_metrics(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # the test suite's small mirror and protocol (conftest.small_params) keep the 13 stages quick
    monkeypatch.setattr(speed, "SYNTHETIC_PER_CLASS", (30, 10))
    monkeypatch.setattr(speed, "SYNTHETIC_PROTOCOL", {"val_size": 60, "labeled_anomalies": 45, "kmeans_clusters": 3})
    kept = tmp_path / "kept"
    result = speed.main(["--data", "synthetic", "--skip-throughput", "--pipeline-epochs", "1",
                         "--keep-metrics", str(kept)])
    rows = result["rows"]
    assert {r["section"] for r in rows} == {"pipeline"}
    timed = {r["stage"]: r for r in rows}
    assert all(timed[stage]["ran"] and timed[stage]["seconds"] > 0 for stage in speed.pipeline_stages())
    assert timed["all stages"]["ran"] and not timed["dvc repro (nothing to do)"]["ran"]
    for name in (*speed.NETWORKS, *speed.BASELINES):
        assert 0.0 <= json.loads((kept / f"{name}.json").read_text())["auroc"] <= 1.0
    assert "stages:" in (kept / "dvc.lock").read_text()
    assert "dvc repro, one stage at a time" in capsys.readouterr().out


def test_speed_refuses_contradictory_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        speed.main(["--skip-pipeline", "--skip-throughput"])
    assert "--skip-pipeline leaves nothing to run" in capsys.readouterr().err
