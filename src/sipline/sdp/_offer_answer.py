"""The answerer's side of RFC 3264 offer/answer, for sipline's own media endpoints
(echo, tones, playback): pick codecs from an offer and build the answer."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sipline.sdp._codecs import (
    Codec,
    Direction,
    RtpMap,
    connection_address,
    direction_of,
    fmtp_of,
    payload_types,
    ptime_of,
    rtcp_address,
)
from sipline.sdp._errors import SdpNotAcceptable
from sipline.sdp._model import Connection, MediaDescription, Origin, SdpLine, SessionDescription

__all__ = [
    "PCMA",
    "PCMU",
    "TELEPHONE_EVENT",
    "Capabilities",
    "NegotiatedStream",
    "Negotiation",
    "negotiate",
]

PCMU = Codec("PCMU", 8000)
PCMA = Codec("PCMA", 8000)
TELEPHONE_EVENT = Codec("telephone-event", 8000)  # RFC 4733 section 7.1.1


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What the local endpoint can do.  ``codecs`` in local preference order (used only
    to break no ties: RFC 3264 section 6.1 keeps the offerer's order)."""

    codecs: tuple[Codec, ...] = (PCMU, PCMA)
    telephone_event: bool = True
    media: frozenset[str] = frozenset({"audio"})
    protos: frozenset[str] = frozenset({"RTP/AVP", "RTP/AVPF"})
    direction: Direction = Direction.SENDRECV
    ptime: int = 20
    rtcp_mux: bool = True
    #: Answer with one codec (plus telephone-event): the sender then never switches.
    single_codec: bool = True


@dataclass(frozen=True, slots=True)
class NegotiatedStream:
    """The outcome for one ``m=`` line of the offer (same index)."""

    index: int
    media: str
    port: int  # local port in the answer; 0 when rejected
    codecs: tuple[RtpMap, ...] = ()  # with the offer's payload type numbers
    telephone_event: RtpMap | None = None
    ptime: int | None = None
    direction: Direction = Direction.INACTIVE  # the answerer's
    remote_address: str | None = None
    remote_port: int = 0
    remote_rtcp: tuple[str, int] | None = None
    rtcp_mux: bool = False

    @property
    def accepted(self) -> bool:
        return self.port != 0


@dataclass(frozen=True, slots=True)
class Negotiation:
    answer: SessionDescription
    streams: tuple[NegotiatedStream, ...]


def _choose(
    offered: list[RtpMap], capabilities: Capabilities
) -> tuple[list[RtpMap], RtpMap | None]:
    """Codecs of the offer we support, in the offerer's order (RFC 3264 section 6.1),
    and the telephone-event format at the chosen codec's clock rate (RFC 4733 §2.5.1)."""
    chosen = [
        rtpmap
        for rtpmap in offered
        if not rtpmap.is_telephone_event and any(c.matches(rtpmap) for c in capabilities.codecs)
    ]
    if capabilities.single_codec:
        chosen = chosen[:1]
    event = None
    if chosen and capabilities.telephone_event:
        rate = chosen[0].clock_rate
        event = next((r for r in offered if r.is_telephone_event and r.clock_rate == rate), None)
    return chosen, event


def _answer_lines(
    media: MediaDescription,
    chosen: list[RtpMap],
    event: RtpMap | None,
    ptime: int,
    mux: bool,
    direction: Direction,
) -> list[SdpLine]:
    lines: list[SdpLine] = []
    for rtpmap in [*chosen, *([event] if event else [])]:
        lines.append(("a", f"rtpmap:{rtpmap.value}"))
        fmtp = fmtp_of(media, rtpmap.payload_type)
        if fmtp is None and rtpmap is event:
            fmtp = "0-16"  # RFC 4733 section 2.4.1 default events, written out
        if fmtp is not None:
            lines.append(("a", f"fmtp:{rtpmap.payload_type} {fmtp}"))
    lines.append(("a", f"ptime:{ptime}"))
    if mux:
        lines.append(("a", "rtcp-mux"))  # RFC 5761 section 5.1.1
    lines.append(("a", direction.value))
    return lines


def _negotiate_stream(
    offer: SessionDescription,
    index: int,
    media: MediaDescription,
    capabilities: Capabilities,
    port: int | None,
) -> tuple[MediaDescription, NegotiatedStream]:
    rejected = (
        MediaDescription(media.media, 0, media.proto, media.formats),
        NegotiatedStream(index, media.media, 0),
    )
    if (
        port is None
        or port == 0
        or media.port == 0
        or media.media not in capabilities.media
        or media.proto.upper() not in capabilities.protos
    ):
        return rejected  # RFC 3264 section 6: a rejected stream keeps its m= with port 0
    chosen, event = _choose(payload_types(media), capabilities)
    if not chosen:
        return rejected
    connection = connection_address(offer, media)
    direction = direction_of(offer, media).answer(capabilities.direction)
    ptime = ptime_of(media) or capabilities.ptime
    mux = capabilities.rtcp_mux and media.has_attribute("rtcp-mux")
    formats = [str(r.payload_type) for r in [*chosen, *([event] if event else [])]]
    lines = _answer_lines(media, chosen, event, ptime, mux, direction)
    answer = MediaDescription(media.media, port, media.proto, tuple(formats), tuple(lines))
    rtcp = rtcp_address(offer, media)
    remote_rtcp = None if rtcp is None else (rtcp[0] or connection.address, rtcp[1])
    stream = NegotiatedStream(
        index,
        media.media,
        port,
        tuple(chosen),
        event,
        ptime,
        direction,
        None if connection.is_hold else connection.address,
        media.port,
        remote_rtcp,
        mux,
    )
    return answer, stream


def negotiate(
    offer: SessionDescription,
    capabilities: Capabilities,
    *,
    address: str,
    ports: Sequence[int],
    origin: Origin | None = None,
) -> Negotiation:
    """Answer ``offer`` (RFC 3264 section 6) from ``address``, m-line ``i`` on
    ``ports[i]`` (a missing or 0 port rejects that stream).

    Every ``m=`` line of the offer gets one in the answer, in the same order; ones we
    cannot take (other media, other transport, no common codec) get port 0.  Raises
    ``SdpNotAcceptable`` (488) when no stream can be accepted at all.
    """
    answers: list[MediaDescription] = []
    streams: list[NegotiatedStream] = []
    for index, media in enumerate(offer.media):
        port = ports[index] if index < len(ports) else None
        answer_media, stream = _negotiate_stream(offer, index, media, capabilities, port)
        answers.append(answer_media)
        streams.append(stream)
    if not any(stream.accepted for stream in streams):
        raise SdpNotAcceptable("no acceptable media stream or codec in the offer")
    if origin is None:
        origin = Origin("sipline", str(secrets.randbits(62)), 1, address)
    connection = Connection.for_address(address)
    origin = Origin(
        origin.username, origin.session_id, origin.session_version, address, connection.address_type
    )
    session: tuple[SdpLine, ...] = (
        ("v", "0"),
        ("o", str(origin)),
        ("s", "sipline"),
        ("c", str(connection)),
        ("t", "0 0"),
    )
    return Negotiation(SessionDescription(session, tuple(answers)), tuple(streams))
