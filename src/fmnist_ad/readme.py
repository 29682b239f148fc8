"""The README's results, copied by code from the Markdown the pipelines write (``make readme``).

Each result in ``README.md`` sits between ``<!-- render: PATH block N -->`` and
``<!-- /render -->``: the N-th block (from 1) of the generated file ``PATH``, where a block is a
run of consecutive table rows (``| ...``) or list items (``- ...``). Rendering replaces what is
between the markers with that block, so the README cannot drift from ``metrics/*.md``, which the
pipelines render from the metrics; ``tests/test_readme.py`` fails when it has.

A table may be cut to what a newcomer needs, never edited: `` | rows COLUMN=V1;V2`` keeps the rows
whose ``COLUMN`` holds one of the values, `` | columns C1;C2`` keeps those columns in that order,
e.g. ``<!-- render: metrics/protocols.md block 1 | rows protocol=tshirt | columns method;AUROC -->``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from fmnist_ad.atomic import write_text
from fmnist_ad.errors import UserError

MARKER = re.compile(r"(<!-- render: (?P<path>\S+) block (?P<n>\d+)(?P<cuts>(?: \| [^|>]+?)*) -->\n)"
                    r"(?P<body>.*?)(?P<tail><!-- /render -->)", re.S)


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


def _cells(line: str) -> list[str]:
    return line.removeprefix("| ").removesuffix(" |").split(" | ")


def cut_table(table: str, cuts: str, where: str) -> str:
    """``table`` with the `` | rows COLUMN=V1;V2`` and `` | columns C1;C2`` cuts applied."""
    header, _, *rows = (_cells(line) for line in table.splitlines())
    for cut in filter(None, (c.strip() for c in cuts.split(" | "))):
        kind, _, spec = cut.partition(" ")
        if kind == "rows" and "=" in spec:
            column, _, values = spec.partition("=")
            at = _column(header, column, where)
            rows = [row for row in rows if row[at] in values.split(";")]
        elif kind == "columns":
            keep = [_column(header, c, where) for c in spec.split(";")]
            header, rows = [header[i] for i in keep], [[row[i] for i in keep] for row in rows]
        else:
            raise RenderError(f"{where}: cut {cut!r}; use `rows COLUMN=V1;V2` or `columns C1;C2`")
    lines = [header, ["---"] * len(header), *rows]
    return "".join("| " + " | ".join(line) + " |\n" for line in lines)


def _column(header: list[str], name: str, where: str) -> int:
    if name not in header:
        raise RenderError(f"{where}: no column {name!r}; the table has {header}")
    return header.index(name)


def render(readme: str, root: Path) -> str:
    """``readme`` with every marked region replaced by the block it names, cut as it says."""
    def block(match: re.Match) -> str:
        path, n = root / match["path"], int(match["n"])
        where = f"{match['path']} block {n}"
        if not path.is_file():
            raise RenderError(f"{match['path']}: missing; run the pipeline that writes it first")
        found = blocks(path.read_text())
        if not 1 <= n <= len(found):
            raise RenderError(f"{match['path']} has {len(found)} blocks, the README asks for block {n}")
        body = found[n - 1]
        if match["cuts"]:
            if not body.startswith("| "):
                raise RenderError(f"{where} is a list; only tables can be cut")
            body = cut_table(body, match["cuts"], where)
        return match.group(1) + body + match["tail"]
    return MARKER.sub(block, readme)


def main(readme: Path = Path("README.md")) -> None:
    text = readme.read_text()
    write_text(readme, render(text, readme.parent))


if __name__ == "__main__":
    from fmnist_ad.pipeline.entry import main as entry

    entry(lambda: main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("README.md")))
