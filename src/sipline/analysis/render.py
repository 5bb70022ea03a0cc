"""Render analysed flows in one of the output formats of ``sipline ladder``."""

from __future__ import annotations

from collections.abc import Sequence

from ._model import Flow
from ._render_json import render_json
from ._render_mermaid import render_mermaid
from ._render_text import render_text

__all__ = ["FORMATS", "render"]

FORMATS = ("text", "svg", "html", "mermaid", "json")


def render(
    flows: Sequence[Flow], output_format: str, *, width: int = 100, explain: bool = False
) -> str:
    """The whole output as text (SVG and HTML included)."""
    if output_format == "text":
        return render_text(flows, width, explain=explain)
    if output_format == "json":
        return render_json(flows, explain=explain)
    if output_format == "mermaid":
        return render_mermaid(flows)
    if output_format == "svg":
        from ._render_svg import render_svg

        return render_svg(flows)
    if output_format == "html":
        from ._render_html import render_html

        return render_html(flows)
    raise ValueError(f"unknown output format {output_format!r}")
