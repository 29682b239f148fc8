"""The README's result tables are the generated metrics Markdown, copied by code."""

from __future__ import annotations

from pathlib import Path

import pytest

from fmnist_ad.readme import RenderError, blocks, render
from sandbox import REPO


def test_readme_tables_equal_the_generated_metrics() -> None:
    readme = (REPO / "README.md").read_text()
    assert "<!-- render: " in readme
    assert render(readme, REPO) == readme, "README results differ from metrics/*.md: run `make readme`"


def test_render_replaces_the_marked_block_only(tmp_path: Path) -> None:
    (tmp_path / "m.md").write_text("# t\n\n| a |\n| --- |\n| 1 |\n\ntext\n\n- one\n- two\n")
    assert blocks((tmp_path / "m.md").read_text()) == ["| a |\n| --- |\n| 1 |\n", "- one\n- two\n"]
    readme = "intro\n<!-- render: m.md block 2 -->\nstale\n<!-- /render -->\nend\n"
    assert render(readme, tmp_path) == "intro\n<!-- render: m.md block 2 -->\n- one\n- two\n<!-- /render -->\nend\n"
    with pytest.raises(RenderError, match="has 2 blocks, the README asks for block 3"):
        render(readme.replace("block 2", "block 3"), tmp_path)
    with pytest.raises(RenderError, match="nope.md: missing"):
        render(readme.replace("m.md", "nope.md"), tmp_path)


def test_tables_can_be_cut_by_rows_and_columns_but_not_edited(tmp_path: Path) -> None:
    (tmp_path / "m.md").write_text("| p | m | auroc (%) |\n| --- | --- | --- |\n| a | x | 1 |\n| b | y | 2 |\n"
                                   "| c | z | 3 |\n\n- note\n")
    readme = "<!-- render: m.md block 1 | rows p=a;c | columns auroc (%);m -->\nold\n<!-- /render -->\n"
    assert render(readme, tmp_path) == ("<!-- render: m.md block 1 | rows p=a;c | columns auroc (%);m -->\n"
                                        "| auroc (%) | m |\n| --- | --- |\n| 1 | x |\n| 3 | z |\n<!-- /render -->\n")
    with pytest.raises(RenderError, match="no column 'q'"):
        render(readme.replace("rows p=", "rows q="), tmp_path)
    with pytest.raises(RenderError, match="only tables can be cut"):
        render(readme.replace("block 1", "block 2"), tmp_path)
    with pytest.raises(RenderError, match="use `rows COLUMN"):
        render(readme.replace("columns", "keep"), tmp_path)
