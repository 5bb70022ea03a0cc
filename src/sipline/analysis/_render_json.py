"""JSON output (the schema is in the README, section "sipline ladder"):

{"calls": [{"number", "kind", "call_ids": [...], "parties": [{"name", "address", "role"}],
            "messages": [{"index", "time", "src", "dst", "transport", "first_line",
                          "call_id", "summary", "error", "retransmission_of", "notes",
                          "origin"}],
            "phases": [{"name", "detail", "first", "last"}],
            "diagnoses": [{"text", "severity", "messages"}]}]}
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ._model import Flow

__all__ = ["flows_to_json", "render_json"]


def _flow(flow: Flow, explain: bool) -> dict[str, Any]:
    messages = []
    for m in flow.messages:
        item: dict[str, Any] = {
            "index": m.index,
            "time": m.time,
            "src": flow.name_of(m.source),
            "dst": flow.name_of(m.destination),
            "transport": m.transport,
            "first_line": m.first_line,
            "call_id": m.call_id,
            "summary": flow.summaries.get(m.index, ""),
            "error": m.error,
            "retransmission_of": m.retransmission_of,
            "notes": list(m.record.notes),
            "origin": str(m.record.origin),
        }
        if explain:
            from ._render_common import explanation

            item["explanation"] = [{"line": line, "text": text} for line, text in explanation(m)]
        messages.append(item)
    return {
        "number": flow.number,
        "kind": flow.kind,
        "call_ids": flow.call_ids,
        "parties": [{"name": p.name, "address": p.key, "role": p.role} for p in flow.parties],
        "messages": messages,
        "phases": [
            {
                "name": p.name,
                "detail": p.detail,
                "first": p.first,
                "last": p.last,
                "between": p.between,
            }
            for p in flow.phases
        ],
        "diagnoses": [
            {"text": d.text, "severity": d.severity, "messages": list(d.messages)}
            for d in flow.diagnoses
        ],
    }


def flows_to_json(flows: Sequence[Flow], *, explain: bool = False) -> dict[str, Any]:
    return {"calls": [_flow(flow, explain) for flow in flows]}


def render_json(flows: Sequence[Flow], *, explain: bool = False) -> str:
    return json.dumps(flows_to_json(flows, explain=explain), indent=2, ensure_ascii=False) + "\n"
