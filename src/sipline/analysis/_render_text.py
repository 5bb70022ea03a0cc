"""The ASCII ladder, like the hand-drawn diagrams of shared/seeds/001: one lifeline per
party, the message name above its arrow, a one-line summary to the right."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from ._model import Flow
from ._parsed import TracedMessage
from ._render_common import explanation, flow_title, format_time, phase_text, phases_by_start

__all__ = ["render_text"]

_GUTTER = 19  # " 123 12:34:56.789  "
_MIN_SPACING = 14
_MAX_SPACING = 24
_MIN_SUMMARY = 24


class _Layout:
    def __init__(self, flow: Flow, width: int) -> None:
        columns = max(len(flow.parties), 1)
        labels = [len(m.label) + 4 for m in flow.messages]
        heads = [max(len(p.key), len(p.name)) + 2 for p in flow.parties]
        wanted = min(max([*labels, *heads, _MIN_SPACING]), _MAX_SPACING)
        room = width - _GUTTER - 2 - _MIN_SUMMARY
        spacing = min(wanted, room // (columns - 1)) if columns > 1 else wanted
        self.spacing = max(spacing, 10)
        self.positions = [_GUTTER + 1 + i * self.spacing for i in range(columns)]
        self.right = self.positions[-1] + 2
        self.width = width
        self.summary_inline = width - self.right >= _MIN_SUMMARY

    def lifelines(self) -> list[str]:
        row = [" "] * (self.right)
        for x in self.positions:
            row[x] = "|"
        return row


def _put(row: list[str], x: int, text: str) -> None:
    for offset, char in enumerate(text):
        if 0 <= x + offset < len(row):
            row[x + offset] = char
        elif x + offset >= len(row):
            row.append(char)


def _centered(layout: _Layout, texts: Sequence[str]) -> str:
    row = [" "] * layout.right
    for x, text in zip(layout.positions, texts, strict=True):
        text = text[: layout.spacing - 1]
        _put(row, max(0, x - len(text) // 2), text)
    return "".join(row).rstrip()


def _arrow(layout: _Layout, start: int, end: int, char: str) -> list[str]:
    row = layout.lifelines()
    if start < 0 or end < 0 or start == end:
        x = layout.positions[max(start, end, 0)]
        _put(row, x + 1, "--. (to itself)" if start == end else " ? (ends unknown)")
        return row
    left, right = sorted((layout.positions[start], layout.positions[end]))
    for x in range(left + 1, right):
        row[x] = char
    if start < end:
        row[right - 1] = ">"
    else:
        row[left + 1] = "<"
    return row


def _message_rows(flow: Flow, layout: _Layout, traced: TracedMessage) -> list[str]:
    start, end = flow.column_of(traced.source), flow.column_of(traced.destination)
    label = traced.label
    if traced.retransmission_of is not None:
        label = f"{label} (again)"
    if traced.message is None:
        label = f"?? {traced.first_line or 'unparsed'}"
    if min(start, end) >= 0 and start != end:
        span = abs(layout.positions[end] - layout.positions[start])
    else:
        span = layout.right - layout.positions[max(start, end, 0)] + 40
    label_row = layout.lifelines()
    left = layout.positions[min(start, end)] if min(start, end) >= 0 else layout.positions[0]
    _put(label_row, left + 3, label[: max(span - 4, 6)])
    _put(label_row, 0, f"{traced.index:>4} {format_time(traced.time):<12}")
    char = "~" if traced.message is None else "=" if traced.retransmission_of else "-"
    arrow_row = _arrow(layout, start, end, char)
    summary = flow.summaries.get(traced.index, "")
    lines = ["".join(label_row).rstrip(), "".join(arrow_row).rstrip()]
    if summary and layout.summary_inline:
        room = layout.width - layout.right - 2
        text = summary if len(summary) <= room else summary[: room - 3] + "..."
        lines[0] = "".join(label_row).ljust(layout.right) + "  " + text
    elif summary:
        lines.append(" " * 6 + textwrap.shorten(summary, layout.width - 6, placeholder="..."))
    return lines


def _phase_rule(layout: _Layout, text: str, fill: str) -> str:
    head = f"{fill * 4} {text} "[: layout.width - 4]
    return head + fill * max(layout.width - len(head), 4)


def _explained(layout: _Layout, traced: TracedMessage) -> list[str]:
    lines = [f"        note: {note}" for note in traced.record.notes]
    lines.append(f"        from {traced.record.origin}")
    for line, meaning in explanation(traced):
        lines.append("        " + textwrap.shorten(line, layout.width - 8, placeholder="..."))
        lines.extend(
            textwrap.wrap(
                meaning, layout.width - 12, initial_indent=" " * 12, subsequent_indent=" " * 12
            )
        )
    return lines


def render_flow_text(flow: Flow, width: int = 100, *, explain: bool = False) -> str:
    layout = _Layout(flow, width)
    out = [*textwrap.wrap(flow_title(flow), width, subsequent_indent="  "), ""]
    out.append(_centered(layout, [p.name for p in flow.parties]))
    out.append(_centered(layout, [p.key for p in flow.parties]))
    out.append(_centered(layout, [f"({p.role})" for p in flow.parties]))
    before, after = phases_by_start(flow)
    for traced in flow.messages:
        out.extend(_phase_rule(layout, phase_text(p), "=") for p in before.get(traced.index, []))
        out.extend(_message_rows(flow, layout, traced))
        if explain:
            out.extend(_explained(layout, traced))
        for phase in after.get(traced.index, []):
            out.append("".join(layout.lifelines()).rstrip())
            out.append(_phase_rule(layout, phase_text(phase), "~"))
            out.append("".join(layout.lifelines()).rstrip())
    out.append("".join(layout.lifelines()).rstrip())
    if flow.diagnoses:
        out.append("")
        out.append("Diagnosis:")
        for diagnosis in flow.diagnoses:
            refs = ", ".join(f"#{i}" for i in diagnosis.messages)
            text = f"{diagnosis.severity}: {diagnosis.text} [{refs}]"
            out.extend(
                textwrap.wrap(text, width - 2, initial_indent="  ! ", subsequent_indent="    ")
            )
    return "\n".join(out)


def render_text(flows: Sequence[Flow], width: int = 100, *, explain: bool = False) -> str:
    """All flows, one ladder each, separated by a blank line."""
    if not flows:
        return "No SIP messages.\n"
    return "\n\n".join(render_flow_text(f, width, explain=explain) for f in flows) + "\n"
