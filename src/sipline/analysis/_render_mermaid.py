"""Mermaid ``sequenceDiagram`` output: participants, one arrow per message, phases as
``rect`` blocks with a note, diagnoses as notes at the end."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ._model import Flow
from ._render_common import flow_title, format_time, phase_text

__all__ = ["render_mermaid"]

_UNSAFE = re.compile(r"[;#\n\r]")
_COLOURS = ("rgb(230, 240, 255)", "rgb(235, 250, 235)")


def _text(text: str) -> str:
    """Mermaid message text: no ``;`` or ``#`` (statement separators / entities)."""
    return _UNSAFE.sub(" ", text).strip() or "-"


def _flow(flow: Flow) -> list[str]:
    ids = {p.key: f"P{i}" for i, p in enumerate(flow.parties)}
    lines = ["sequenceDiagram", f"    title {_text(flow_title(flow))}"]
    lines += [
        f"    participant {ids[p.key]} as {_text(p.name)} {_text(p.key)}" for p in flow.parties
    ]
    first = ids[flow.parties[0].key] if flow.parties else "P0"
    last = ids[flow.parties[-1].key] if flow.parties else "P0"
    span = f"{first},{last}" if first != last else first
    open_phase: int | None = None
    for traced in flow.messages:
        starting = [p for p in flow.phases if p.first == traced.index and not p.between]
        if starting and open_phase is not None:
            lines.append("    end")
            open_phase = None
        for phase in starting:
            lines.append(f"    rect {_COLOURS[len(lines) % 2]}")
            lines.append(f"    Note over {span}: {_text(phase_text(phase))}")
            open_phase = phase.last
        arrow = "-x" if traced.message is None else "--)" if traced.retransmission_of else "->>"
        src, dst = ids.get(traced.source, first), ids.get(traced.destination, last)
        label = traced.label if traced.message is not None else f"unparsed {traced.first_line}"
        lines.append(
            f"    {src}{arrow}{dst}: [{traced.index}] {format_time(traced.time)} {_text(label)}"
        )
        if open_phase is not None and traced.index >= open_phase:
            lines.append("    end")
            open_phase = None
        for phase in flow.phases:
            if phase.between and phase.first == traced.index:
                lines.append(f"    Note over {span}: {_text(phase_text(phase))}")
    if open_phase is not None:
        lines.append("    end")
    lines += [f"    Note over {span}: {_text(d.severity + ': ' + d.text)}" for d in flow.diagnoses]
    return lines


def render_mermaid(flows: Sequence[Flow]) -> str:
    """One ``sequenceDiagram`` per flow, separated by a blank line."""
    return "\n\n".join("\n".join(_flow(flow)) for flow in flows) + "\n"
