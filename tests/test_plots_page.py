"""`dvc plots show` writes a page that needs no network: the libraries are inline."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

from fmnist_ad.plots_page import main as write_page
from sandbox import REPO, run


def test_the_plots_page_dvc_writes_references_no_remote_script(tmp_path: Path) -> None:
    run(["git", "init", "-q"], tmp_path)
    run([sys.executable, "-m", "dvc", "init", "-q"], tmp_path)
    shutil.copy(REPO / ".dvc" / "config", tmp_path / ".dvc" / "config")  # the committed setting
    write_page(tmp_path / ".dvc" / "plots_page.html")
    (tmp_path / "roc.csv").write_text("fpr,tpr\n0,0\n0.1,0.8\n1,1\n")
    (tmp_path / "dvc.yaml").write_text("plots:\n  - roc.csv:\n      x: fpr\n      y: tpr\n")
    run([sys.executable, "-m", "dvc", "plots", "show", "-o", "out"], tmp_path)
    page = (tmp_path / "out" / "index.html").read_text()
    assert not re.findall(r"<script[^>]*\bsrc=", page), "a script loaded from elsewhere"
    assert "cdn.jsdelivr" not in page and "window.vegaEmbed=" in page and "vegaEmbed(" in page
