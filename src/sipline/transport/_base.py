"""What every transport shares: the interface, the inbound item types, counters, the tap.

A transport turns datagrams and streams into ``(message, source, local)`` and back
(DESIGN.md "Edges are thin"); it knows SIP only as far as framing.  Nothing a peer
sends raises out of a transport: bad input is counted, logged, and either handed
up as a ``BadMessage`` or dropped.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from sipline.sip import Address, Message, SipParseError

logger = logging.getLogger("sipline.transport")

Direction = Literal["recv", "send"]


class TransportError(Exception):
    """Sending failed: no listener fits, connection refused or lost, TLS failure."""


@dataclass(frozen=True, slots=True)
class BadMessage:
    """A datagram or WebSocket frame that failed to parse, but whose request line and
    Via header can be read, so the endpoint can answer ``400 <error.reason>``
    (RFC 3261 §16.3 / §8.2.2 style answer to a malformed request)."""

    error: SipParseError
    data: bytes

    def __bytes__(self) -> bytes:
        return self.data


#: Called with each inbound message: ``(message, source, local)`` where ``source`` is the
#: peer and ``local`` the ``local_address`` of the listener that received it.
MessageCallback = Callable[[Message | BadMessage, Address, Address], None]


class TraceSink(Protocol):
    """One tap at the transport boundary (STYLE.md convention 10).

    Called for every SIP message received or sent, with the exact wire bytes:
    whole datagrams on UDP, one framed message on TCP/TLS, one frame on WS.
    ``local``/``remote`` are the socket addresses, ``timestamp`` wall-clock seconds.
    """

    def __call__(
        self,
        direction: Direction,
        transport: str,
        local: Address,
        remote: Address,
        timestamp: float,
        data: bytes,
        /,
    ) -> None: ...


class Transport(Protocol):
    """A listener of one transport on one local address (STYLE.md convention 9).

    Inbound messages go to the ``on_message`` callback given when it was started.
    """

    @property
    def local_address(self) -> Address: ...

    async def send(self, data: bytes, destination: Address) -> None:
        """Send one message; raises ``TransportError`` when it cannot."""

    async def close(self) -> None:
        """Close the listener and every connection it owns; idempotent."""


@dataclass(slots=True)
class TransportStats:
    """Counters, shared by the listeners of one ``TransportLayer``."""

    received: int = 0
    sent: int = 0
    parse_errors: int = 0  # unparsable datagrams/frames handed up as BadMessage
    dropped: int = 0  # inbound input thrown away (unreadable, oversize, nobody to tell)
    framing_errors: int = 0  # stream connections closed for a framing error or oversize
    keepalives: int = 0  # CRLF pings received (RFC 5626 §3.5.1)
    connections_opened: int = 0
    connections_closed: int = 0
    idle_closed: int = 0
    send_errors: int = 0


class Tap:
    """Delivery to the layer above plus the trace sinks, never raising into the loop."""

    __slots__ = ("_on_message", "_sinks", "stats")

    def __init__(
        self,
        on_message: MessageCallback,
        sinks: Sequence[TraceSink] | None,
        stats: TransportStats,
    ) -> None:
        self._on_message = on_message
        self._sinks = tuple(sinks or ())
        self.stats = stats

    def trace(self, direction: Direction, local: Address, remote: Address, data: bytes) -> None:
        if not self._sinks:
            return
        now = time.time()
        for sink in self._sinks:
            try:
                sink(direction, local.transport, local, remote, now, data)
            except Exception:
                logger.exception("trace sink %r failed", sink)

    def deliver(self, item: Message | BadMessage, source: Address, local: Address) -> None:
        try:
            self._on_message(item, source, local)
        except Exception:
            logger.exception("message callback failed for a message from %s", source)

    def bad_input(self, error: SipParseError, data: bytes, source: Address, local: Address) -> None:
        """A datagram or frame that does not parse: hand it up if answerable, else drop."""
        if looks_like_request_with_via(data):
            self.stats.parse_errors += 1
            logger.info("unparsable request from %s: %s", source, error)
            self.deliver(BadMessage(error, data), source, local)
        else:
            self.stats.dropped += 1
            logger.info("dropped %d unparsable bytes from %s: %s", len(data), source, error)


# RFC 3261 §25.1: Request-Line = Method SP Request-URI SP SIP-Version CRLF
_REQUEST_LINE = re.compile(rb"[!%'*+\-.0-9A-Z_`a-z~]+ [^ \r\n]+ SIP/2\.0\r?\n")
_VIA_LINE = re.compile(rb"\n(?:via|v)[ \t]*:[ \t]*SIP[ \t]*/", re.IGNORECASE)


def looks_like_request_with_via(data: bytes) -> bool:
    """True when the request line and a Via header can be read, so a 400 can be sent."""
    head = data.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    return _REQUEST_LINE.match(head) is not None and _VIA_LINE.search(head) is not None


def is_keepalive(data: bytes) -> bool:
    """A datagram of only CR/LF: the keep-alive many phones send over UDP."""
    return not data.strip(b"\r\n")
