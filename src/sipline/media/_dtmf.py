"""DTMF digits from RFC 4733 telephone-events and from SIP INFO bodies.

``TelephoneEventReceiver.receive(header, payload)`` turns the packets of one
telephone-event stream into one ``DigitReceived`` per key press, however many
packets (updates, the three end packets) carried it; ``parse_dtmf_info`` reads the
``application/dtmf-relay`` and ``application/dtmf`` bodies phones send in INFO.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from sipline.media._rtp import RtpHeader
from sipline.sip import RemoteProtocolError

__all__ = [
    "DIGITS",
    "DigitReceived",
    "TelephoneEvent",
    "TelephoneEventReceiver",
    "digit_of",
    "parse_dtmf_info",
]

#: RFC 4733 section 3.2 table 1: events 0-15 are the DTMF keys, 16 is flash.
DIGITS = "0123456789*#ABCD"
_EVENT = struct.Struct("!BBH")


def digit_of(event: int) -> str | None:
    return DIGITS[event] if 0 <= event < len(DIGITS) else None


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    """The payload of one telephone-event packet (RFC 4733 section 2.3)."""

    event: int
    end: bool
    volume: int  # -dBm0, 0..63
    duration: int  # in timestamp units since the event's timestamp

    @classmethod
    def parse(cls, payload: bytes) -> TelephoneEvent:
        """Raises ``RemoteProtocolError`` on a payload shorter than 4 octets.  With
        RFC 2198 redundancy absent, only the first 4-octet block counts."""
        if len(payload) < 4:
            raise RemoteProtocolError(f"telephone-event payload of {len(payload)} octets")
        event, flags, duration = _EVENT.unpack_from(payload)
        # RFC 4733 section 2.3: E bit, then the reserved R bit (ignored), then volume.
        return cls(event, bool(flags & 0x80), flags & 0x3F, duration)

    def pack(self) -> bytes:
        return _EVENT.pack(self.event, (0x80 if self.end else 0) | self.volume, self.duration)

    @property
    def digit(self) -> str | None:
        return digit_of(self.event)


@dataclass(frozen=True, slots=True)
class DigitReceived:
    """A key press: ``duration`` in ms (0 when unknown), ``via`` "rfc4733" or "info"."""

    digit: str
    duration: int
    via: str


class TelephoneEventReceiver:
    """One RTP stream's telephone-events (RFC 4733 section 2.5.2): packets with the same
    timestamp are one event; its end packet is sent three times (section 2.5.1.4) and
    reported once.  An event whose end packets were all lost is reported when the next
    event starts (or on ``flush()``)."""

    __slots__ = ("_current", "_done", "clock_rate", "payload_type")

    def __init__(self, payload_type: int, *, clock_rate: int = 8000) -> None:
        self.payload_type = payload_type
        self.clock_rate = clock_rate
        self._current: tuple[int, int, TelephoneEvent] | None = None  # (ssrc, ts, last)
        self._done: tuple[int, int] | None = None  # (ssrc, timestamp) last reported

    def receive(self, header: RtpHeader, payload: bytes) -> list[DigitReceived]:
        """Digits completed by this packet (usually none or one).  Packets of other
        payload types are ignored; a malformed one raises ``RemoteProtocolError``."""
        if header.payload_type != self.payload_type:
            return []
        event = TelephoneEvent.parse(payload)
        key = (header.ssrc, header.timestamp)
        if key == self._done:
            return []  # a retransmitted end packet, or a late update
        out: list[DigitReceived] = []
        current = self._current
        if current is not None and (current[0], current[1]) != key:
            out += self._report(current)  # the previous event lost its end packets
        if event.end:
            self._current = None
            out += self._report((header.ssrc, header.timestamp, event))
        else:
            self._current = (header.ssrc, header.timestamp, event)
        return out

    def flush(self) -> list[DigitReceived]:
        """The event in progress, reported as if ended (the stream stopped)."""
        current, self._current = self._current, None
        return [] if current is None else self._report(current)

    def _report(self, entry: tuple[int, int, TelephoneEvent]) -> list[DigitReceived]:
        ssrc, timestamp, event = entry
        self._done = (ssrc, timestamp)
        digit = event.digit
        if digit is None:
            return []  # flash and other events are not digits
        return [DigitReceived(digit, event.duration * 1000 // self.clock_rate, "rfc4733")]


def parse_dtmf_info(content_type: str | None, body: bytes) -> DigitReceived | None:
    """The digit of a SIP INFO body: ``application/dtmf-relay`` (``Signal=5`` and
    ``Duration=160`` lines, Cisco's format) or ``application/dtmf`` (the digit alone).
    None for other content types; ``RemoteProtocolError`` (400) for a bad body."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        raise RemoteProtocolError("DTMF INFO body is not ASCII", header="Content-Type") from None
    if kind == "application/dtmf":
        return DigitReceived(_signal(text.strip()), 0, "info")
    if kind != "application/dtmf-relay":
        return None
    fields: dict[str, str] = {}
    for line in text.splitlines():
        name, equals, value = line.partition("=")
        if equals:
            fields[name.strip().lower()] = value.strip()
    if "signal" not in fields:
        raise RemoteProtocolError("application/dtmf-relay body without Signal=")
    duration = fields.get("duration", "0")
    return DigitReceived(
        _signal(fields["signal"]), int(duration) if duration.isdigit() else 0, "info"
    )


def _signal(value: str) -> str:
    """A key as a character, or its RFC 4733 event number (some phones send 10/11)."""
    if len(value) == 1 and value.upper() in DIGITS:
        return value.upper()
    if value.isdigit() and int(value) < len(DIGITS):
        return DIGITS[int(value)]
    raise RemoteProtocolError(f"DTMF signal {value[:20]!r} is not a key")
