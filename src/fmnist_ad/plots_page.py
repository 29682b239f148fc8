"""The page template that makes ``dvc plots show`` work offline (written by ``make install``).

DVC's default page loads Vega, Vega-Lite and Vega-Embed from a CDN, so without a network the
interactive plots stay blank. DVC fills a custom template's ``{plot_divs}`` (and its
``{scripts}``, where the CDN tags would go: this template has none), so this one carries the
three libraries inline, as one script from ``vl-convert-python`` (BSD-3-Clause), which the
install brings. ``.dvc/config`` names it (``plots.html_template``, relative to ``.dvc/``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from fmnist_ad.atomic import write_text

#: DVC's plots are Vega-Lite v5 specs; the newest v5 that vl-convert bundles
VEGA_LITE = "5.21"
#: where ``.dvc/config`` expects the page (``plots.html_template = plots_page.html``)
DEFAULT_PATH = Path(".dvc/plots_page.html")

PAGE = """<!DOCTYPE html>
<html>
<head>
    {refresh_tag}
    <meta charset="utf-8">
    <title>DVC Plot (offline: Vega, Vega-Lite {vega_lite} and Vega-Embed inline)</title>
    <script>
{bundle}
    </script>
    <style>
        table {
            border-spacing: 15px;
        }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


def page() -> str:
    """The template: DVC's default page with the libraries inline instead of its CDN tags."""
    import vl_convert

    bundle = vl_convert.javascript_bundle(vl_version=VEGA_LITE)
    if "</script" in bundle.lower():
        raise RuntimeError("the Vega bundle contains '</script', which would end the inline script early")
    return PAGE.replace("{vega_lite}", VEGA_LITE).replace("{bundle}", bundle)


def main(path: Path = DEFAULT_PATH) -> None:
    write_text(path, page())


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_PATH)
