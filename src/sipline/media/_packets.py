"""Building and taking apart RTP packets for sipline's own media (RFC 3550 §5.1):
``RtpPacketizer`` numbers what we send, ``rtp_payload`` finds what we receive, and
the G.711 codec of a payload type."""

from __future__ import annotations

import secrets
from array import array
from collections.abc import Callable

from sipline.media._g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from sipline.media._rtp import RtpHeader

__all__ = ["G711_DECODERS", "G711_ENCODERS", "RtpPacketizer", "rtp_payload"]

#: RFC 3551 section 6 static payload types.
G711_DECODERS: dict[int, Callable[[bytes], array[int]]] = {0: ulaw_decode, 8: alaw_decode}
G711_ENCODERS: dict[str, Callable[[array[int]], bytes]] = {"PCMU": ulaw_encode, "PCMA": alaw_encode}


def rtp_payload(data: bytes) -> bytes | None:
    """The payload of an RTP packet without CSRCs, header extension and padding
    (RFC 3550 section 5.1, 5.3.1); None when the lengths do not add up."""
    if len(data) < 12 or data[0] & 0xC0 != 0x80:
        return None
    start = 12 + 4 * (data[0] & 0x0F)
    if data[0] & 0x10:
        if len(data) < start + 4:
            return None
        start += 4 + 4 * int.from_bytes(data[start + 2 : start + 4], "big")
    end = len(data)
    if data[0] & 0x20:
        end -= data[-1]
    if end < start:
        return None
    return data[start:end]


class RtpPacketizer:
    """Headers for one RTP stream we send: random SSRC and initial sequence number and
    timestamp (RFC 3550 section 5.1), sequence +1 per packet, timestamp + samples, the
    marker bit on the first packet of each talkspurt (RFC 3551 section 4.1)."""

    __slots__ = ("_talkspurt", "sequence", "ssrc", "timestamp")

    def __init__(self, *, ssrc: int | None = None) -> None:
        self.ssrc = secrets.randbits(32) if ssrc is None else ssrc
        self.sequence = secrets.randbits(16)
        self.timestamp = secrets.randbits(32)
        self._talkspurt = True

    def start_talkspurt(self) -> None:
        """The next packet begins a talkspurt (after silence we did not send)."""
        self._talkspurt = True

    def skip(self, samples: int) -> None:
        """Time passed without a packet (silence suppressed): the timestamp moves on."""
        self.timestamp = (self.timestamp + samples) & 0xFFFFFFFF

    def packet(
        self, payload_type: int, payload: bytes, samples: int, *, timestamp: int | None = None
    ) -> bytes:
        """One packet; ``timestamp`` overrides ours (telephone-event packets of one
        event share the event's timestamp, RFC 4733 section 2.5.1.2)."""
        header = RtpHeader(
            self._talkspurt,
            payload_type,
            self.sequence,
            self.timestamp if timestamp is None else timestamp,
            self.ssrc,
        )
        self._talkspurt = False
        self.sequence = (self.sequence + 1) & 0xFFFF
        if timestamp is None:
            self.timestamp = (self.timestamp + samples) & 0xFFFFFFFF
        return header.pack(payload)
