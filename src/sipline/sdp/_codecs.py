"""Payload formats of an RTP media description: rtpmap, fmtp, ptime, direction, RTCP."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sipline.sdp._errors import SdpParseError
from sipline.sdp._model import Connection, MediaDescription, SessionDescription

__all__ = [
    "STATIC_PAYLOAD_TYPES",
    "Codec",
    "Direction",
    "RtpMap",
    "connection_address",
    "direction_of",
    "fmtp_of",
    "payload_types",
    "ptime_of",
    "rtcp_address",
]


@dataclass(frozen=True, slots=True)
class Codec:
    """An encoding independent of its payload type number: ``PCMU/8000``."""

    encoding: str
    clock_rate: int
    channels: int = 1

    def matches(self, other: Codec | RtpMap) -> bool:
        """Same encoding name (case-insensitive, RFC 4855 section 3), rate and channels."""
        return (
            self.encoding.lower() == other.encoding.lower()
            and self.clock_rate == other.clock_rate
            and self.channels == other.channels
        )

    def __str__(self) -> str:
        channels = "" if self.channels == 1 else f"/{self.channels}"
        return f"{self.encoding}/{self.clock_rate}{channels}"


@dataclass(frozen=True, slots=True)
class RtpMap:
    """``a=rtpmap:<payload type> <encoding name>/<clock rate>[/<channels>]``
    (RFC 8866 section 6.6), or the implied mapping of a static payload type."""

    payload_type: int
    encoding: str
    clock_rate: int
    channels: int = 1

    @classmethod
    def parse(cls, value: str) -> RtpMap:
        number, _, encoding = value.strip().partition(" ")
        parts = encoding.strip().split("/")
        try:
            payload_type = int(number)
            clock_rate = int(parts[1])
            channels = int(parts[2]) if len(parts) > 2 and parts[2] else 1
        except (ValueError, IndexError):
            raise SdpParseError(f"malformed a=rtpmap:{value}") from None
        if not 0 <= payload_type <= 127 or not parts[0]:
            raise SdpParseError(f"malformed a=rtpmap:{value}")
        return cls(payload_type, parts[0], clock_rate, channels)

    @property
    def codec(self) -> Codec:
        return Codec(self.encoding, self.clock_rate, self.channels)

    @property
    def is_telephone_event(self) -> bool:
        return self.encoding.lower() == "telephone-event"  # RFC 4733 section 7.1.1

    def with_payload_type(self, payload_type: int) -> RtpMap:
        return RtpMap(payload_type, self.encoding, self.clock_rate, self.channels)

    @property
    def value(self) -> str:
        """The text after ``a=rtpmap:``."""
        channels = "" if self.channels == 1 else f"/{self.channels}"
        return f"{self.payload_type} {self.encoding}/{self.clock_rate}{channels}"


#: RFC 3551 section 6, table 4: static audio payload types.
STATIC_PAYLOAD_TYPES: dict[int, RtpMap] = {
    rtpmap.payload_type: rtpmap
    for rtpmap in (
        RtpMap(0, "PCMU", 8000),
        RtpMap(3, "GSM", 8000),
        RtpMap(4, "G723", 8000),
        RtpMap(5, "DVI4", 8000),
        RtpMap(6, "DVI4", 16000),
        RtpMap(7, "LPC", 8000),
        RtpMap(8, "PCMA", 8000),
        RtpMap(9, "G722", 8000),
        RtpMap(10, "L16", 44100, 2),
        RtpMap(11, "L16", 44100),
        RtpMap(12, "QCELP", 8000),
        RtpMap(13, "CN", 8000),
        RtpMap(14, "MPA", 90000),
        RtpMap(15, "G728", 8000),
        RtpMap(16, "DVI4", 11025),
        RtpMap(17, "DVI4", 22050),
        RtpMap(18, "G729", 8000),
    )
}


def payload_types(media: MediaDescription) -> list[RtpMap]:
    """The formats of an RTP ``m=`` line in order, each with its ``a=rtpmap`` (or the
    RFC 3551 static mapping).  Dynamic types with no rtpmap are skipped: nothing can be
    negotiated on them."""
    declared: dict[int, RtpMap] = {}
    for value in media.attribute_values("rtpmap"):
        rtpmap = RtpMap.parse(value)
        declared.setdefault(rtpmap.payload_type, rtpmap)
    result: list[RtpMap] = []
    for text in media.formats:
        if not text.isdigit():
            raise SdpParseError(f"RTP format {text!r} is not a payload type number")
        number = int(text)
        known = declared.get(number) or STATIC_PAYLOAD_TYPES.get(number)
        if known is not None:
            result.append(known)
    return result


def fmtp_of(media: MediaDescription, payload_type: int) -> str | None:
    """The parameters of ``a=fmtp:<payload_type> ...`` (RFC 8866 section 6.15)."""
    prefix = f"{payload_type} "
    for value in media.attribute_values("fmtp"):
        if value.startswith(prefix):
            return value[len(prefix) :].strip()
    return None


class Direction(enum.Enum):
    """RFC 8866 sections 6.7.1-6.7.4, as seen by the side that wrote the SDP."""

    SENDRECV = "sendrecv"
    SENDONLY = "sendonly"
    RECVONLY = "recvonly"
    INACTIVE = "inactive"

    @classmethod
    def of(cls, *, send: bool, receive: bool) -> Direction:
        if send:
            return cls.SENDRECV if receive else cls.SENDONLY
        return cls.RECVONLY if receive else cls.INACTIVE

    @property
    def sends(self) -> bool:
        return self in (Direction.SENDRECV, Direction.SENDONLY)

    @property
    def receives(self) -> bool:
        return self in (Direction.SENDRECV, Direction.RECVONLY)

    def answer(self, local: Direction | None = None) -> Direction:
        """The answer's direction to an offer in this direction, for an answerer willing
        to do ``local`` (RFC 3264 section 6.1: sendonly -> recvonly, recvonly ->
        sendonly, inactive -> inactive, sendrecv -> any)."""
        local = local or Direction.SENDRECV
        return Direction.of(
            send=self.receives and local.sends, receive=self.sends and local.receives
        )


_DIRECTIONS = {d.value: d for d in Direction}


def direction_of(sdp: SessionDescription, media: MediaDescription) -> Direction:
    """The stream's direction: its own attribute, else the session's, else sendrecv
    (RFC 8866 section 6.7).  ``c=0.0.0.0`` (RFC 2543 hold, RFC 3264 section 8.4) makes
    a sendrecv stream sendonly: the phone asks not to be sent media."""
    for attribute in (*media.attributes, *sdp.attributes):
        if attribute.value is None and attribute.name in _DIRECTIONS:
            direction = _DIRECTIONS[attribute.name]
            break
    else:
        direction = Direction.SENDRECV
    connection = sdp.connection_for(media)
    if connection is not None and connection.is_hold and direction.receives:
        return Direction.of(send=direction.sends, receive=False)
    return direction


def ptime_of(media: MediaDescription) -> int | None:
    """``a=ptime`` in milliseconds (RFC 8866 section 6.4); fractional values rounded."""
    value = media.attribute("ptime")
    if not value:
        return None
    try:
        ptime = round(float(value))
    except ValueError:
        raise SdpParseError(f"malformed a=ptime:{value}") from None
    return ptime if 0 < ptime <= 1000 else None


def rtcp_address(sdp: SessionDescription, media: MediaDescription) -> tuple[str | None, int] | None:
    """Where the writer of ``sdp`` receives RTCP for ``media``: ``a=rtcp`` (RFC 3605)
    or the RTP port + 1 (RFC 3550 section 11); ``None`` for a disabled stream.  The
    address is ``None`` when it is the RTP address."""
    if media.port == 0:
        return None
    value = media.attribute("rtcp")
    if value:
        fields = value.split()
        if not fields[0].isdigit() or int(fields[0]) > 65535:
            raise SdpParseError(f"malformed a=rtcp:{value}")
        address = fields[3] if len(fields) >= 4 else None
        return address, int(fields[0])
    return None, media.port + 1


def connection_address(sdp: SessionDescription, media: MediaDescription) -> Connection:
    """The connection of an active stream; a missing one is the peer's error."""
    connection = sdp.connection_for(media)
    if connection is None:
        raise SdpParseError(f"no c= line for m={media.media} (RFC 8866 section 5.7)")
    return connection
