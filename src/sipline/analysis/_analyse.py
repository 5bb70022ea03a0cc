"""From records to analysed flows: parse, group, phases, diagnoses, summaries."""

from __future__ import annotations

from collections.abc import Sequence

from ._diagnose import diagnose_flow
from ._group import group_messages
from ._model import Flow
from ._parsed import parse_records
from ._phases import find_phases
from ._record import TraceRecord
from ._summary import summarise_flow

__all__ = ["analyse"]


def analyse(records: Sequence[TraceRecord], *, details: bool = True) -> list[Flow]:
    """Flows of a trace; ``details=False`` stops after grouping (for speed)."""
    flows = group_messages(parse_records(records))
    if details:
        for flow in flows:
            flow.phases = find_phases(flow)
            flow.diagnoses = diagnose_flow(flow)
            flow.summaries = summarise_flow(flow)
    return flows
