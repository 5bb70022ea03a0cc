"""SVG ladder: lifelines, arrows with the message name, phases as shaded bands, the
summary of each message on the right, diagnoses underneath.

``flow_svg`` also serves the HTML page, where each message is a clickable group
(``class="msg" data-index="N"``)."""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape, quoteattr

from ._model import Flow
from ._render_common import flow_title, format_time, phase_text

__all__ = ["flow_svg", "render_svg"]

_ROW = 30
_COLUMN = 190
_LEFT = 110
_TOP = 70
_SUMMARY_WIDTH = 560
_FONT = "font-family:monospace;font-size:12px"
_BANDS = ("#eef4ff", "#eefaee")
_SEVERITY = {"error": "#b00020", "warning": "#a05a00", "info": "#225"}


def _x(column: int) -> int:
    return _LEFT + column * _COLUMN


def _header(flow: Flow) -> list[str]:
    parts = [
        f'<text x="10" y="20" style="{_FONT};font-weight:bold">{escape(flow_title(flow))}</text>'
    ]
    for column, party in enumerate(flow.parties):
        x = _x(column)
        parts.append(
            f'<text x="{x}" y="42" text-anchor="middle" style="{_FONT};font-weight:bold">'
            f"{escape(party.name)}</text>"
            f'<text x="{x}" y="56" text-anchor="middle" style="{_FONT};fill:#555">'
            f"{escape(party.key)} ({escape(party.role)})</text>"
        )
    return parts


def _rows(flow: Flow) -> dict[int, int]:
    """Message index -> y of its arrow; "between" phases get a row of their own."""
    y = _TOP + _ROW
    rows = {}
    for traced in flow.messages:
        rows[traced.index] = y
        y += _ROW
        if any(p.between and p.first == traced.index for p in flow.phases):
            y += _ROW
    return rows


def _phases(flow: Flow, rows: dict[int, int], width: int) -> list[str]:
    parts = []
    for number, phase in enumerate(flow.phases):
        if phase.between:
            y = rows.get(phase.first, _TOP) + _ROW - 4
            parts.append(
                f'<text x="{_LEFT}" y="{y}" style="{_FONT};fill:#060;font-style:italic">'
                f"~~ {escape(phase_text(phase))} ~~</text>"
            )
            continue
        top = rows.get(phase.first, _TOP) - _ROW + 6
        bottom = rows.get(phase.last, top) + 8
        parts.append(
            f'<rect x="0" y="{top}" width="{width}" height="{bottom - top}" fill="{_BANDS[number % 2]}"/>'
            f'<text x="4" y="{top + 12}" style="{_FONT};fill:#446">{escape(phase.name)}</text>'
        )
    return parts


def _message(flow: Flow, index: int, y: int, summary_x: int) -> str:
    traced = next(m for m in flow.messages if m.index == index)
    start, end = flow.column_of(traced.source), flow.column_of(traced.destination)
    x1 = _x(max(start, 0))
    x2 = _x(end) if end >= 0 and end != start else x1 + 40
    colour = "#b00020" if traced.message is None else "#777" if traced.retransmission_of else "#000"
    dash = ' stroke-dasharray="4 3"' if traced.message is None or traced.retransmission_of else ""
    label = traced.label if traced.message is not None else f"?? {traced.first_line[:30]}"
    text_x = min(x1, x2) + 6
    return (
        f'<g class="msg" data-index="{index}" style="cursor:pointer">'
        f'<rect x="0" y="{y - 20}" width="{summary_x + _SUMMARY_WIDTH}" height="{_ROW - 4}" fill="transparent"/>'
        f'<text x="4" y="{y}" style="{_FONT};fill:#555">{index} {escape(format_time(traced.time))}</text>'
        f'<line x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" stroke="{colour}"{dash} marker-end="url(#arrow)"/>'
        f'<text x="{text_x}" y="{y - 4}" style="{_FONT};fill:{colour}">{escape(label)}</text>'
        f'<text x="{summary_x}" y="{y}" style="{_FONT};fill:#333">'
        f"{escape(flow.summaries.get(index, ''))}</text></g>"
    )


def flow_svg(flow: Flow, *, standalone: bool = True) -> str:
    """One flow as an ``<svg>`` element (with the XML namespace when standalone)."""
    rows = _rows(flow)
    columns = max(len(flow.parties), 1)
    summary_x = _x(columns - 1) + 30
    width = summary_x + _SUMMARY_WIDTH
    bottom = max(rows.values(), default=_TOP) + _ROW
    height = bottom + 20 * len(flow.diagnoses) + 20
    namespace = ' xmlns="http://www.w3.org/2000/svg"' if standalone else ""
    parts = [
        f'<svg{namespace} width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" '
        'markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"/></marker></defs>',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="white"/>',
    ]
    parts += _phases(flow, rows, width)
    parts += _header(flow)
    parts += [
        f'<line x1="{_x(c)}" y1="{_TOP}" x2="{_x(c)}" y2="{bottom}" stroke="#999"/>'
        for c in range(columns)
    ]
    parts += [_message(flow, index, y, summary_x) for index, y in rows.items()]
    for number, diagnosis in enumerate(flow.diagnoses):
        refs = ", ".join(f"#{i}" for i in diagnosis.messages)
        colour = _SEVERITY.get(diagnosis.severity, "#000")
        parts.append(
            f'<text x="10" y="{bottom + 20 * (number + 1)}" style="{_FONT};fill:{colour}" '
            f"data-messages={quoteattr(refs)}>{escape(diagnosis.severity)}: "
            f"{escape(diagnosis.text)} [{escape(refs)}]</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts)


def render_svg(flows: Sequence[Flow]) -> str:
    """One SVG document; several flows are stacked in nested ``<svg>`` elements."""
    pieces = [flow_svg(flow) for flow in flows]
    if len(pieces) == 1:
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + pieces[0] + "\n"
    y = 0
    body = []
    width = 0
    for piece, flow in zip(pieces, flows, strict=True):
        height = int(piece.split('height="', 1)[1].split('"', 1)[0])
        width = max(width, int(piece.split('width="', 1)[1].split('"', 1)[0]))
        body.append(
            piece.replace("<svg ", f'<svg y="{y}" ', 1)
            .replace(' id="arrow"', f' id="arrow{flow.number}"')
            .replace("url(#arrow)", f"url(#arrow{flow.number})")
        )
        y += height + 20
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{y}">\n'
        + "\n".join(body)
        + "\n</svg>\n"
    )
