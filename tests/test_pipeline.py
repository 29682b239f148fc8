"""The whole DVC pipeline, end to end, with `dvc repro` in a temporary copy of the repo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import pipeline_project
from fmnist_ad.detectors import DETECTORS, NETWORKS
from sandbox import REPO, run, stages_run

pytestmark = pytest.mark.pipeline


def _run(args: list[str], cwd: Path, check: bool = True):
    return run(args, cwd, check=check, OMP_NUM_THREADS="1")


@pytest.fixture(scope="module")
def project(mirror, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pipeline_project(mirror, tmp_path_factory.mktemp("pipeline"))


def test_repro_produces_metrics_and_plots(project: Path) -> None:
    for name in DETECTORS:
        m = json.loads((project / "metrics" / f"{name}.json").read_text())
        assert 0.0 <= m["auroc"] <= 1.0 and 0.0 <= m["auprc"] <= 1.0
        assert 0.0 <= m["report_f1"] <= 1.0 and 0.0 <= m["mcc_f1"] <= 1.0
        assert not any(k.endswith(("_precision", "_recall")) for k in m)     # headline only
        confusion = pd.read_csv(project / "plots" / name / "confusion.csv")
        test = pd.read_csv(project / "data" / "scores" / name / "test.csv")
        assert (confusion["actual"] == "anomaly").sum() == (test["label"] == 1).sum()
        for plot in ("roc.csv", "pr.csv", "hist.csv", "confusion.csv"):
            assert (project / "plots" / name / plot).is_file()
        assert (project / "data" / "thresholds" / f"{name}.json").is_file()
        curves = project / "plots" / "training" / name / "plots" / "metrics"
        assert curves.is_dir() == (name in NETWORKS)             # baselines fit in one call, no curves
    # on the synthetic bars the AE separates normal from anomalous
    assert json.loads((project / "metrics" / "ae.json").read_text())["auroc_mse"] > 0.9
    shown = _run([sys.executable, "-m", "dvc", "metrics", "show", "--json"], project).stdout
    assert "auroc" in shown


def test_second_repro_does_nothing(project: Path) -> None:
    out = _run([sys.executable, "-m", "dvc", "repro"], project).stdout
    assert "Data and pipelines are up to date" in out
    assert "Running stage" not in out


def test_detector_param_change_reruns_only_that_detector(project: Path) -> None:
    original = (project / "params.yaml").read_text()
    params = yaml.safe_load(original)
    params["ae"]["lr"] = 2e-3
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        out = _run([sys.executable, "-m", "dvc", "repro", "--dry"], project).stdout
    finally:
        (project / "params.yaml").write_text(original)
    ran = stages_run(out)
    # a dry run lists the stages whose own deps changed; evaluate@ae follows from their outputs
    assert {"train@ae", "score@ae", "threshold@ae"} <= ran and all(s.endswith("@ae") for s in ran)


def test_protocol_change_reruns_prepare_not_download(project: Path) -> None:
    out = _run([sys.executable, "-m", "dvc", "status"], project).stdout
    assert "changed" not in out
    original = (project / "params.yaml").read_text()
    params = yaml.safe_load(original)
    params["protocol"]["seed"] = 43
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        out = _run([sys.executable, "-m", "dvc", "repro", "--dry"], project).stdout
    finally:
        (project / "params.yaml").write_text(original)
    assert "Running stage 'prepare'" in out and "Running stage 'download'" not in out


def test_bad_params_fail_fast_with_key(project: Path) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["ae"]["epochs"] = -1
    bad = project / "bad_params.yaml"
    bad.write_text(yaml.safe_dump(params, sort_keys=False))
    proc = _run([sys.executable, "stages/train.py", "ae", "data/prepared", "x", "z.json",
                 "--params", str(bad)], project, check=False)
    assert proc.returncode == 2
    assert "ae.epochs" in proc.stderr and "Traceback" not in proc.stderr


def test_exp_run_with_a_typo_or_wrong_type_fails_naming_the_key(project: Path) -> None:
    def exp_run(*sets: str) -> str:
        args = [sys.executable, "-m", "dvc", "exp", "run", "--temp", *(f"-S{x}" for x in sets), "train@ae"]
        proc = _run(args, project, check=False)
        assert proc.returncode != 0
        return proc.stdout + proc.stderr

    assert "ae.lrr" in exp_run("ae.lrr=0.1")                  # DVC itself refuses unknown keys
    # forced in with `+` and a wrong type: our schema names both before any work
    out = exp_run("+ae.lrr=0.1", "ae.epochs=many")
    assert "ae.lrr: unknown key" in out and "ae.epochs: Input should be a valid integer" in out


def test_metrics_recomputed_from_score_tables(project: Path) -> None:
    import pandas as pd
    from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

    from fmnist_ad.thresholds import predict

    for name in DETECTORS:
        m = json.loads((project / "metrics" / f"{name}.json").read_text())
        t = json.loads((project / "data" / "thresholds" / f"{name}.json").read_text())
        test = pd.read_csv(project / "data" / "scores" / name / "test.csv")
        assert m["auroc"] == pytest.approx(roc_auc_score(test.label, test[t["main_score"]]))
        assert m["auprc"] == pytest.approx(average_precision_score(test.label, test[t["main_score"]]))
        assert m["mcc_f1"] == pytest.approx(f1_score(test.label, predict(t["mcc"], test), zero_division=0))
        full = json.loads((project / "metrics" / "summary.json").read_text())[name]   # every rule
        assert full["fpr_f1"] == pytest.approx(f1_score(test.label, predict(t["fpr"], test), zero_division=0))


def test_compare_outputs(project: Path) -> None:
    summary = json.loads((project / "metrics" / "summary.json").read_text())
    for name in DETECTORS:
        assert summary[name]["auroc"] == json.loads((project / "metrics" / f"{name}.json").read_text())["auroc"]
    assert (project / "plots" / "compare" / "roc.png").read_bytes().startswith(b"\x89PNG")


def test_forced_parallel_rerun_gives_identical_results(project: Path) -> None:
    """`make chains JOBS=2 FORCE=1` (what `make repro` runs), for the GAN's and the AE's chains:
    both detectors' stages again, side by side through DVC, each on one thread like the serial
    `dvc repro` that made the project: the same metrics and score tables (the GAN's two
    discriminators and interleaved sampling included), the same splits, the other detectors
    untouched, and nothing left for `dvc repro`."""
    rerun = ("gan", "ae")
    outputs = [project / "metrics" / f"{name}.json" for name in rerun]
    outputs += [project / "data" / "scores" / name / f"{split}.csv" for name in rerun for split in ("val", "test")]
    before = [p.read_bytes() for p in outputs]
    make = ["make", "-s", "-f", str(REPO / "Makefile"), "chains", "JOBS=2", "JOB_THREADS=1", "FORCE=1",
            f"SLOWEST_FIRST={' '.join(rerun)}", f"VENV={Path(sys.executable).parent.parent}"]
    ran = stages_run(_run(make, project).stdout)
    assert {f"{step}@{name}" for name in rerun for step in ("train", "score", "threshold", "evaluate")} <= ran
    assert not {s for s in ran if s.split("@")[-1] not in rerun} - {"compare"}   # nor prepare
    assert [p.read_bytes() for p in outputs] == before
    assert "Data and pipelines are up to date" in _run([sys.executable, "-m", "dvc", "repro"], project).stdout


def _metric_values(project: Path, rev: str | None) -> dict[tuple[str, str], object]:
    """Every metric key of every metrics file, flattened as DVC does, at ``rev`` or in the workspace."""
    files = [f"metrics/{n}.json" for n in DETECTORS]   # training records and summary.json are no metrics
    values = {}
    for path in files:
        text = (_run(["git", "show", f"{rev}:{path}"], project).stdout if rev
                else (project / path).read_text())
        for key, value in json.loads(text).items():
            items = value.items() if isinstance(value, dict) else [(None, value)]
            for sub, v in items:
                values[(path, f"{key}.{sub}" if sub else key)] = v
    return values


def test_metrics_diff_reports_exactly_what_changed(project: Path) -> None:
    _run(["git", "add", "-A"], project)
    _run(["git", "commit", "-qm", "results"], project)
    original = (project / "params.yaml").read_text()
    params = yaml.safe_load(original)
    params["gan"]["lr"] = 1e-3
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        _run([sys.executable, "-m", "dvc", "repro"], project)
        diff = json.loads(_run([sys.executable, "-m", "dvc", "metrics", "diff", "--json"], project).stdout)
        old, new = _metric_values(project, "HEAD"), _metric_values(project, None)
    finally:
        (project / "params.yaml").write_text(original)
        _run([sys.executable, "-m", "dvc", "repro"], project)     # back to the committed results
    reported = {(path, key) for path, keys in diff.items() for key in keys}
    actually_changed = {k for k in new if isinstance(new[k], (int, float)) and new[k] != old.get(k)}
    assert reported == actually_changed
    assert reported, "a new GAN learning rate changed no metric"
    for path, key in reported:
        assert path == "metrics/gan.json", (path, key)


def test_killed_training_leaves_nothing_valid_and_repro_recovers(project: Path) -> None:
    import signal
    import time

    # as sandbox.run does: stage commands call `python`, which must be this interpreter
    env = dict(os.environ, DVC_NO_ANALYTICS="1", OMP_NUM_THREADS="1",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    original = (project / "params.yaml").read_text()
    model = project / "data" / "models" / "ae" / "model.pt"
    previous = model.read_bytes()
    params = yaml.safe_load(original)
    params["ae"]["epochs"] = 200                       # long enough to be killed mid-way
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    proc = subprocess.Popen([sys.executable, "-m", "dvc", "repro", "train@ae"], cwd=project, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while not (project / "data" / "work" / "ae" / "checkpoints").exists():
        assert proc.poll() is None, "train@ae ended before writing a checkpoint"
        assert time.time() < deadline, "train@ae wrote no checkpoint in 120 s"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    # the published model is the previous complete one (or gone), never a partial new one
    assert not model.exists() or model.read_bytes() == previous
    assert not list((project / "data" / "models").glob(".*tmp"))
    status = _run([sys.executable, "-m", "dvc", "status", "train@ae"], project).stdout
    assert "changed" in status or "deleted" in status or "modified" in status
    (project / "params.yaml").write_text(original)
    _run([sys.executable, "-m", "dvc", "repro"], project)
    assert (project / "data" / "models" / "ae" / "model.pt").is_file()
    assert "up to date" in _run([sys.executable, "-m", "dvc", "status"], project).stdout


def test_one_protocol_cell_through_dvc(project: Path) -> None:
    """A cell of protocols/dvc.yaml runs alone from the root pipeline's data, writes its metrics
    and is then up to date; the default pipeline is not touched by it. (The protocols pipeline is
    copied in for this test only: `dvc status` and `dvc metrics` of the others see one pipeline.)"""
    import shutil

    from sandbox import REPO

    shutil.copytree(REPO / "protocols", project / "protocols", ignore=shutil.ignore_patterns("dvc.lock"))
    target = "protocols/dvc.yaml:ae@tshirt-7"
    try:
        _run([sys.executable, "-m", "dvc", "repro", "--single-item", target], project)
        m = json.loads((project / "metrics" / "protocols" / "tshirt-ae-7.json").read_text())
        assert m["main_score"] == "combined" and m["labels_in_training"] == 0
        assert (project / "data" / "protocols" / "tshirt-ae-7" / "test.csv").is_file()
        status = _run([sys.executable, "-m", "dvc", "status", target], project).stdout
        assert "up to date" in status
        assert "Data and pipelines are up to date" in _run([sys.executable, "-m", "dvc", "repro", "dvc.yaml"],
                                                           project).stdout
    finally:
        for path in ("protocols", "data/protocols", "metrics/protocols"):
            shutil.rmtree(project / path, ignore_errors=True)


def test_score_command_matches_the_pipelines_score_table(project: Path, tmp_path: Path) -> None:
    """`python -m fmnist_ad score` on the test split's images, exported as .npy, gives the
    pipeline's own test scores (same checkpoint, same thresholds)."""
    import numpy as np
    import pandas as pd

    with np.load(project / "data" / "prepared" / "splits.npz") as splits:
        np.save(tmp_path / "test.npy", splits["test_images"])
    out = tmp_path / "scores.csv"
    proc = _run([sys.executable, "-m", "fmnist_ad", "score", "--detector", "vae", str(tmp_path / "test.npy"),
                 "--rule", "mcc", "--out", str(out)], project)
    assert "images scored by vae" in proc.stderr
    table = pd.read_csv(out)
    pipeline = pd.read_csv(project / "data" / "scores" / "vae" / "test.csv")
    for name in ("bce", "elbo", "bce_excess", "elbo_excess", "blurred_bce_excess"):
        np.testing.assert_allclose(table[name], pipeline[name], rtol=1e-6)
    thresholds = json.loads((project / "data" / "thresholds" / "vae.json").read_text())
    cut = thresholds["mcc"]["cut"]["blurred_bce_excess"]
    assert table["anomalous_mcc"].tolist() == (pipeline["blurred_bce_excess"] >= cut).astype(int).tolist()


def test_a_baseline_scores_new_images_like_the_pipeline(project: Path, tmp_path: Path) -> None:
    """The gradient-boosted baseline through `fmnist-ad score`: its pickled estimator, loaded from
    the checkpoint `fit@gbt` wrote, gives the pipeline's own test scores and the fitted rule."""
    import numpy as np
    import pandas as pd

    with np.load(project / "data" / "prepared" / "splits.npz") as splits:
        np.save(tmp_path / "test.npy", splits["test_images"])
    out = tmp_path / "scores.csv"
    _run([sys.executable, "-m", "fmnist_ad", "score", "--detector", "gbt", str(tmp_path / "test.npy"),
          "--rule", "mcc", "--out", str(out)], project)
    table = pd.read_csv(out)
    pipeline = pd.read_csv(project / "data" / "scores" / "gbt" / "test.csv")
    np.testing.assert_allclose(table["log_odds"], pipeline["log_odds"], rtol=1e-6)
    cut = json.loads((project / "data" / "thresholds" / "gbt.json").read_text())["mcc"]["cut"]["log_odds"]
    assert table["anomalous_mcc"].tolist() == (pipeline["log_odds"] >= cut).astype(int).tolist()
