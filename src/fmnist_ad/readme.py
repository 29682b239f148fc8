"""The README's results, copied by code from the Markdown the pipelines write (``make readme``).

Each result in ``README.md`` sits between ``<!-- render: PATH block N -->`` and
``<!-- /render -->``: the N-th block (from 1) of the generated file ``PATH``, where a block is a
run of consecutive table rows (``| ...``) or list items (``- ...``). Rendering replaces what is
between the markers with that block, so the README cannot drift from ``metrics/*.md``, which the
pipelines render from the metrics; ``tests/test_readme.py`` fails when it has.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from fmnist_ad.atomic import write_text
from fmnist_ad.errors import UserError

MARKER = re.compile(r"(<!-- render: (?P<path>\S+) block (?P<n>\d+) -->\n)(?P<body>.*?)(<!-- /render -->)", re.S)


class RenderError(UserError, ValueError):
    """A render marker names a file or block that does not exist."""


def blocks(text: str) -> list[str]:
    """The tables and lists of a Markdown text, in order, each with its trailing newline."""
    found, current = [], []
    for line in text.splitlines():
        if line.startswith(("| ", "- ")):
            current.append(line)
        elif current:
            found.append("\n".join(current) + "\n")
            current = []
    if current:
        found.append("\n".join(current) + "\n")
    return found


def render(readme: str, root: Path) -> str:
    """``readme`` with every marked region replaced by the block it names."""
    def block(match: re.Match) -> str:
        path, n = root / match["path"], int(match["n"])
        if not path.is_file():
            raise RenderError(f"{match['path']}: missing; run the pipeline that writes it first")
        found = blocks(path.read_text())
        if not 1 <= n <= len(found):
            raise RenderError(f"{match['path']} has {len(found)} blocks, the README asks for block {n}")
        return match.group(1) + found[n - 1] + match.group(5)
    return MARKER.sub(block, readme)


def main(readme: Path = Path("README.md")) -> None:
    text = readme.read_text()
    write_text(readme, render(text, readme.parent))


if __name__ == "__main__":
    from fmnist_ad.pipeline.entry import main as entry

    entry(lambda: main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("README.md")))
