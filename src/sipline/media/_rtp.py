"""RTP header facts and per-stream reception statistics (RFC 3550)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = ["RtpHeader", "StreamStatistics", "is_rtcp", "is_rtp"]

_HEADER = struct.Struct("!BBHII")
_MAX_DROPOUT = 3000  # RFC 3550 appendix A.1
_MAX_MISORDER = 100
_SEQ_MOD = 1 << 16


def is_rtp(data: bytes) -> bool:
    """Version 2 and room for the fixed header (RFC 3550 section 5.1)."""
    return len(data) >= 12 and data[0] & 0xC0 == 0x80


def is_rtcp(data: bytes) -> bool:
    """An RTCP packet on a multiplexed port: second octet 192-223 (RFC 5761 section 4)."""
    return len(data) >= 2 and 192 <= data[1] <= 223


@dataclass(frozen=True, slots=True)
class RtpHeader:
    """The fixed RTP header (RFC 3550 section 5.1)."""

    marker: bool
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int

    @classmethod
    def parse(cls, data: bytes) -> RtpHeader | None:
        if not is_rtp(data):
            return None
        _, second, sequence, timestamp, ssrc = _HEADER.unpack_from(data)
        return cls(bool(second & 0x80), second & 0x7F, sequence, timestamp, ssrc)

    def pack(self, payload: bytes = b"") -> bytes:
        second = (0x80 if self.marker else 0) | self.payload_type
        return _HEADER.pack(0x80, second, self.sequence, self.timestamp, self.ssrc) + payload


class StreamStatistics:
    """What one side of a relayed stream received: packets, octets, loss and
    interarrival jitter computed as RFC 3550 appendix A.1, A.3 and A.8 do.

    ``update`` is on the relay's hot path: it takes the raw datagram and the arrival
    time in seconds and keeps integer state only (the jitter in timestamp units)."""

    __slots__ = (
        "_bad_sequence",
        "_base_sequence",
        "_cycles",
        "_expected_before",
        "_max_sequence",
        "_transit",
        "clock_rate",
        "jitter_units",
        "octets",
        "packets",
        "ssrc",
    )

    def __init__(self, clock_rate: int = 8000) -> None:
        self.clock_rate = clock_rate
        self.packets = 0
        self.octets = 0  # payload octets (RFC 3550 section 6.4.1 "sender's octet count")
        self.ssrc: int | None = None
        self.jitter_units = 0.0
        self._base_sequence = 0
        self._max_sequence = 0
        self._cycles = 0
        self._bad_sequence = _SEQ_MOD + 1
        self._transit: int | None = None
        self._expected_before = 0  # from earlier SSRCs on this stream

    def _start(self, ssrc: int, sequence: int) -> None:
        if self.ssrc is not None:
            self._expected_before += self._expected_current()
        self.ssrc = ssrc
        self._base_sequence = sequence
        self._max_sequence = sequence
        self._cycles = 0
        self._bad_sequence = _SEQ_MOD + 1
        self._transit = None

    def update(self, data: bytes, arrival: float) -> None:
        """Account one RTP packet (already checked with ``is_rtp``)."""
        _, _, sequence, timestamp, ssrc = _HEADER.unpack_from(data)
        if ssrc != self.ssrc:
            self._start(ssrc, sequence)
        elif not self._sequence_ok(sequence):
            return
        self.packets += 1
        self.octets += len(data) - 12 - 4 * (data[0] & 0x0F)
        # RFC 3550 A.8: transit time in timestamp units; J += (|D| - J) / 16.
        transit = int(arrival * self.clock_rate) - timestamp
        if self._transit is not None:
            difference = abs(transit - self._transit)
            if difference < 1 << 31:  # a timestamp wrap is not jitter
                self.jitter_units += (difference - self.jitter_units) / 16
        self._transit = transit

    def _sequence_ok(self, sequence: int) -> bool:
        """RFC 3550 appendix A.1 ``update_seq``, without the probation period."""
        delta = (sequence - self._max_sequence) % _SEQ_MOD
        if delta < _MAX_DROPOUT:
            if sequence < self._max_sequence:
                self._cycles += _SEQ_MOD  # wrapped
            self._max_sequence = sequence
            return True
        if delta <= _SEQ_MOD - _MAX_MISORDER:
            if sequence == self._bad_sequence:  # two in a row: the source restarted
                self._expected_before += self._expected_current()
                self._base_sequence = sequence
                self._max_sequence = sequence
                self._cycles = 0
                self._transit = None
                return True
            self._bad_sequence = (sequence + 1) % _SEQ_MOD
            return False
        return True  # duplicate or reordered: counted, max unchanged

    def _expected_current(self) -> int:
        if self.ssrc is None:
            return 0
        return self._cycles + self._max_sequence - self._base_sequence + 1

    @property
    def expected(self) -> int:
        """Packets the sequence numbers say were sent (RFC 3550 A.3)."""
        return self._expected_before + self._expected_current()

    @property
    def lost(self) -> int:
        """Cumulative packets lost (RFC 3550 A.3): expected - received, never below 0
        here (duplicates make the RFC's value negative)."""
        return max(0, self.expected - self.packets)

    @property
    def jitter_ms(self) -> float:
        return self.jitter_units * 1000 / self.clock_rate
