"""The one record every trace reader produces (DESIGN.md, "Analysis reuses the core parser").

A reader turns its input (a siptrace text log, a FreeSWITCH console capture, a pcap, a
phone's syslog, plain SIP text) into a list of :class:`TraceRecord`; everything after
that (parsing, grouping, phases, diagnosis, rendering) works on records only.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sipline.sip import Address

__all__ = [
    "LOCAL",
    "Direction",
    "Endpoint",
    "Origin",
    "TraceFormatError",
    "TraceRecord",
    "endpoint_text",
]

#: The capturing node itself, when a trace names only the peer ("recv ... from X").
LOCAL = "local"


class Direction(enum.Enum):
    """Which way a message went, seen from the node that captured it."""

    RECEIVED = "recv"
    SENT = "send"


#: Where a message came from or went to: a transport address when the trace says it,
#: ``LOCAL`` for the capturing node, another string for a name the trace gives
#: ("phone", "sip.example.com:5060"), ``None`` when the trace does not say.
Endpoint = Address | str | None


class TraceFormatError(ValueError):
    """The input is not a trace this reader understands (one line for people)."""


@dataclass(frozen=True, slots=True)
class Origin:
    """Where in the input a record was found: file name and line or packet number."""

    path: str
    line: int | None = None
    packet: int | None = None

    def __str__(self) -> str:
        if self.packet is not None:
            return f"{self.path} packet {self.packet}"
        if self.line is not None:
            return f"{self.path}:{self.line}"
        return self.path


@dataclass(frozen=True, slots=True)
class TraceRecord:
    """One SIP message as captured.

    ``time`` is seconds (since the epoch for pcaps and dated traces, since midnight
    for traces that give a time of day only), ``None`` when the trace has no time.
    ``raw`` is the message as well as the capture lets us rebuild it; ``notes`` say
    what the reader had to repair (line endings, a body the capture left out).
    """

    time: float | None
    direction: Direction | None
    source: Endpoint
    destination: Endpoint
    transport: str | None
    raw: bytes
    origin: Origin
    notes: tuple[str, ...] = ()


def endpoint_text(endpoint: Endpoint) -> str:
    """A short text for an endpoint: ``udp:1.2.3.4:5060``, ``local``, ``?``."""
    if endpoint is None:
        return "?"
    return str(endpoint)
