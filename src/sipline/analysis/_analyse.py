"""From records to analysed flows: parse, group, phases, diagnoses, summaries."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from ._diagnose import diagnose_flow
from ._group import group_messages
from ._model import Flow
from ._parsed import parse_records
from ._phases import find_phases
from ._record import TraceRecord
from ._summary import summarise_flow

__all__ = ["analyse", "detail_flow", "without_cyclic_gc"]


@contextmanager
def without_cyclic_gc() -> Iterator[None]:
    """Building hundreds of thousands of long-lived objects makes the cyclic collector
    rescan them again and again (it halves the rate); they hold no cycles we need
    collected meanwhile, so pause it and restore it afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            if gc.get_freeze_count() == 0:
                # Move what was built to the oldest generation without scanning it (the
                # first young collection after enable() would otherwise walk all of it,
                # about a tenth of the time); the next full collection still sees it.
                # Skipped when someone froze objects on purpose (unfreeze would undo it).
                gc.freeze()
                gc.unfreeze()
            gc.enable()


def analyse(records: Sequence[TraceRecord], *, details: bool = True) -> list[Flow]:
    """Flows of a trace; ``details=False`` stops after grouping (for speed)."""
    with without_cyclic_gc():
        return _analyse(records, details)


def _analyse(records: Sequence[TraceRecord], details: bool) -> list[Flow]:
    flows = group_messages(parse_records(records))
    if details:
        for flow in flows:
            detail_flow(flow)
    return flows


def detail_flow(flow: Flow) -> None:
    """Name the phases, diagnose and explain one flow (what ``details=True`` does for
    every flow): for showing one call of a large trace without analysing them all."""
    flow.phases = find_phases(flow)
    flow.diagnoses = diagnose_flow(flow)
    flow.summaries = summarise_flow(flow)
