"""Helpers the renderers share: times, titles, phase boundaries, explanations."""

from __future__ import annotations

import time as _time
from collections.abc import Callable

from ._model import Flow, Phase
from ._parsed import TracedMessage

__all__ = ["Explainer", "explanation", "flow_title", "format_time", "phases_by_start"]

#: ``explain_message`` of ``sipline.explain``: ``(line, explanation)`` per message line.
Explainer = Callable[[TracedMessage], list[tuple[str, str]]]


def format_time(seconds: float | None) -> str:
    """``HH:MM:SS.mmm`` (UTC for epoch times; times of day as captured)."""
    if seconds is None:
        return ""
    whole = int(seconds)
    millis = round((seconds - whole) * 1000)
    if millis == 1000:
        whole, millis = whole + 1, 0
    if seconds > 10_000_000:
        clock = _time.strftime("%H:%M:%S", _time.gmtime(whole))
    else:
        clock = f"{whole // 3600 % 24:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}"
    return f"{clock}.{millis:03d}"


def flow_title(flow: Flow) -> str:
    names = " -> ".join(p.name for p in flow.parties if p.role in ("caller", "client", "callee"))
    ids = ", ".join(flow.call_ids) or "no Call-ID"
    return f"{flow.kind.capitalize()} {flow.number}: {names or flow.kind} (Call-ID {ids})"


def phase_text(phase: Phase) -> str:
    return f"{phase.name}: {phase.detail}" if phase.detail else phase.name


def phases_by_start(flow: Flow) -> tuple[dict[int, list[Phase]], dict[int, list[Phase]]]:
    """Phases keyed by the message they start before, and "between" phases keyed by
    the message they follow."""
    before: dict[int, list[Phase]] = {}
    after: dict[int, list[Phase]] = {}
    for phase in flow.phases:
        if phase.between:
            after.setdefault(phase.first, []).append(phase)
        else:
            before.setdefault(phase.first, []).append(phase)
    return before, after


def explanation(traced: TracedMessage) -> list[tuple[str, str]]:
    """Per-line explanations from ``sipline.explain`` (empty for unparsed messages)."""
    if traced.message is None:
        return [(traced.first_line, f"does not parse: {traced.error}")]
    from sipline.explain import explain_message

    return explain_message(traced.message)
