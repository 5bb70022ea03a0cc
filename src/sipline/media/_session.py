"""The B2BUA's media hook: one ``RelayMediaSession`` per call anchors its media on the
relay, rewriting each SDP from one leg for the other.

``offer(sdp, from_caller=...)`` takes the offer of one leg and returns the offer for the
other (relay address, one relay port pair per stream and leg, ICE removed, PCMA added
beside PCMU and back when transcoding is on); ``answer(sdp, from_caller=...)`` takes the
answer and returns the answer for the offerer, and sets up forwarding (payload type
mapping, G.711 transcoding when the answerer chose a codec the offerer does not have).
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

from sipline.media._g711 import ALAW_TO_ULAW, ULAW_TO_ALAW
from sipline.media._relay import Endpoint, ForwardPlan, RelayLeg, RtpRelay
from sipline.media._stats import LegStatistics, MediaStatistics
from sipline.sdp import (
    MediaDescription,
    Origin,
    RtpMap,
    SessionDescription,
    add_format,
    anchor,
    connection_address,
    direction_of,
    keep_formats,
    payload_types,
    rtcp_address,
)
from sipline.sip import LocalProtocolError

__all__ = ["MediaTimeout", "RelayMediaSession", "relay_session_factory"]

CALLER, CALLEE = "caller", "callee"
_PCMU = RtpMap(0, "PCMU", 8000)  # RFC 3551 static types
_PCMA = RtpMap(8, "PCMA", 8000)
_G711_PEER = {"pcmu": (_PCMA, ULAW_TO_ALAW), "pcma": (_PCMU, ALAW_TO_ULAW)}


@dataclass(frozen=True, slots=True)
class MediaTimeout:
    """No RTP from one leg for ``silent_for`` seconds: the call should be hung up."""

    call_id: str
    leg: str  # "caller" or "callee"
    stream: int
    silent_for: float

    def __str__(self) -> str:
        return f"media timeout: no RTP from the {self.leg} for {self.silent_for:.0f} s"


class _Stream:
    """One relayed m-line: a leg facing each phone."""

    __slots__ = ("legs", "media", "sends")

    def __init__(self, media: str, caller: RelayLeg, callee: RelayLeg) -> None:
        self.media = media
        self.legs = {CALLER: caller, CALLEE: callee}
        self.sends = {CALLER: True, CALLEE: True}  # does that phone send RTP (not hold)?
        RtpRelay.bridge(caller, callee)


def _relayable(media: MediaDescription) -> bool:
    return media.port != 0 and media.is_rtp and "TCP" not in media.proto.upper()


def _ip_literal(address: str, relay_address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False  # a host name: learnt from the first packet instead (no DNS here)
    return ip.version == ipaddress.ip_address(relay_address).version


def _forward_plan(sent_with: list[RtpMap], expected: list[RtpMap]) -> ForwardPlan | None:
    """Packets numbered as ``sent_with`` (what the relay told the sender) become
    packets numbered as ``expected`` (what the receiver declared), PCMU<->PCMA
    transcoded when the receiver lacks the sender's G.711 law."""
    mapping: dict[int, int] = {}
    transcode: dict[int, bytes] = {}
    for rtpmap in sent_with:
        match = next((e for e in expected if rtpmap.codec.matches(e)), None)
        if match is None and rtpmap.encoding.lower() in _G711_PEER:
            other, table = _G711_PEER[rtpmap.encoding.lower()]
            match = next((e for e in expected if other.codec.matches(e)), None)
            if match is not None:
                transcode[rtpmap.payload_type] = table
        if match is not None and match.payload_type != rtpmap.payload_type:
            mapping[rtpmap.payload_type] = match.payload_type
    plan = ForwardPlan(mapping, transcode)
    return None if plan.is_identity else plan


def _first_audio(formats: list[RtpMap]) -> RtpMap | None:
    return next((r for r in formats if not r.is_telephone_event and r.encoding != "CN"), None)


class RelayMediaSession:
    """The media of one call through the relay (the B2BUA's ``MediaSession``).

    ``RelayMediaSession(relay, call_id, on_timeout=...)``; ``relay.session`` is a
    ready-made factory.  Must be used from the relay's event loop."""

    def __init__(
        self,
        relay: RtpRelay,
        call_id: str = "",
        *,
        on_timeout: Callable[[MediaTimeout], None] | None = None,
    ) -> None:
        self.relay = relay
        self.call_id = call_id
        self.on_timeout = on_timeout
        self._streams: dict[int, _Stream] = {}
        self._finished: dict[int, _Stream] = {}  # closed with the call, kept for stats
        self._received: dict[str, SessionDescription] = {}  # last SDP from each side
        self._sent: dict[str, SessionDescription] = {}  # last SDP to each side
        self._origins: dict[str, Origin] = {}
        self._started: float | None = None
        self._ended: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timed_out = False
        self.closed = False

    # -- the MediaSession protocol -----------------------------------------------------

    def offer(self, sdp: bytes, *, from_caller: bool = True) -> bytes:
        """The offer from one leg, rewritten for the other.  Raises ``SdpParseError``
        (400) on a malformed body (both are ``RemoteProtocolError``)."""
        self._check_open()
        offerer, answerer = (CALLER, CALLEE) if from_caller else (CALLEE, CALLER)
        offer = SessionDescription.parse(sdp)
        ports: list[int] = []
        for index, media in enumerate(offer.media):
            if not _relayable(media):
                self._drop_stream(index)
                ports.append(0)
                continue
            stream = self._stream(index, media.media)
            self._learn_remote(stream.legs[offerer], offer, media)
            ports.append(stream.legs[answerer].port)
        rewritten = anchor(offer, self.relay.advertised_address, ports)
        if self.relay.config.transcode:
            rewritten = rewritten.with_media(self._widen(m) for m in rewritten.media)
        self._received[offerer] = offer
        return self._send(answerer, rewritten)

    def answer(self, sdp: bytes, *, from_caller: bool = False) -> bytes:
        """The answer (or early-media SDP) from one leg, rewritten for the offerer."""
        self._check_open()
        answerer, offerer = (CALLER, CALLEE) if from_caller else (CALLEE, CALLER)
        offer = self._received.get(offerer)
        relayed_offer = self._sent.get(answerer)
        if offer is None or relayed_offer is None:
            raise LocalProtocolError("answer() before offer() from the other leg")
        answer = SessionDescription.parse(sdp)
        ports: list[int] = []
        for index, media in enumerate(answer.media):
            stream = self._streams.get(index)
            if stream is None or media.port == 0 or index >= len(offer.media):
                self._drop_stream(index)
                ports.append(0)
                continue
            self._learn_remote(stream.legs[answerer], answer, media)
            stream.sends[answerer] = direction_of(answer, media).sends
            stream.sends[offerer] = direction_of(offer, offer.media[index]).sends
            ports.append(stream.legs[offerer].port)
        rewritten = anchor(answer, self.relay.advertised_address, ports)
        media_out = [
            self._narrow(m, offer.media[i]) if i in self._streams and m.port else m
            for i, m in enumerate(rewritten.media)
        ]
        rewritten = rewritten.with_media(media_out)
        for index, stream in self._streams.items():
            self._plan(stream, index, offerer, answerer, answer, rewritten, relayed_offer, offer)
        self._received[answerer] = answer
        self._start_timer()
        return self._send(offerer, rewritten)

    def close(self) -> None:
        """Release the ports; statistics stay readable."""
        if self.closed:
            return
        self.closed = True
        self._ended = self.relay.clock()
        if self._timer is not None:
            self._timer.cancel()
        for index in list(self._streams):
            self._drop_stream(index, keep_statistics=True)

    # -- statistics --------------------------------------------------------------------

    def stats(self) -> MediaStatistics:
        """Per-stream, per-leg counters for the CDR and the ``P-RTP-Stat`` header."""
        end = self._ended if self._ended is not None else self.relay.clock()
        duration = 0.0 if self._started is None else max(0.0, end - self._started)
        legs = [
            LegStatistics.of(side, index, stream.media, leg)
            for index, stream in sorted((*self._streams.items(), *self._finished.items()))
            for side, leg in stream.legs.items()
        ]
        return MediaStatistics(self.call_id, duration, tuple(legs))

    async def ready(self) -> None:
        """Wait until every port of the session is receiving (tests, benchmarks)."""
        for stream in self._streams.values():
            for leg in stream.legs.values():
                await leg.ready()

    def legs(self, side: str) -> list[RelayLeg]:
        """The relay legs facing ``side`` ("caller"/"callee"), stream by stream."""
        return [s.legs[side] for _, s in sorted(self._streams.items())]

    def ports(self, side: str) -> list[int]:
        """The relay ports facing ``side`` ("caller"/"callee"), stream by stream."""
        return [s.legs[side].port for _, s in sorted(self._streams.items())]

    # -- internals ---------------------------------------------------------------------

    def _check_open(self) -> None:
        if self.closed:
            raise LocalProtocolError("media session already closed")

    def _stream(self, index: int, media: str) -> _Stream:
        stream = self._streams.get(index)
        if stream is None:
            caller = self.relay.open_leg(f"{self.call_id}/{index}/caller")
            try:
                callee = self.relay.open_leg(f"{self.call_id}/{index}/callee")
            except BaseException:
                self.relay.close_leg(caller)
                raise
            stream = self._streams[index] = _Stream(media, caller, callee)
        return stream

    def _drop_stream(self, index: int, *, keep_statistics: bool = False) -> None:
        stream = self._streams.pop(index, None)
        if stream is None:
            return
        for leg in stream.legs.values():
            self.relay.close_leg(leg)
        if keep_statistics:
            self._finished[index] = stream

    def _learn_remote(
        self, leg: RelayLeg, sdp: SessionDescription, media: MediaDescription
    ) -> None:
        connection = connection_address(sdp, media)
        relay_address = self.relay.config.address
        rtp: Endpoint | None = None
        rtcp: Endpoint | None = None
        if not connection.is_hold and _ip_literal(connection.address, relay_address):
            rtp = (connection.address, media.port)
            where = rtcp_address(sdp, media)
            if where is not None and _ip_literal(where[0] or connection.address, relay_address):
                rtcp = (where[0] or connection.address, where[1])
        if rtp is not None and leg.remote_rtp is not None and rtp != leg.remote_rtp:
            leg.source = leg.rtcp_source = None  # another phone answered (forking): relearn
        if rtp is not None or connection.is_hold:
            leg.remote_rtp, leg.remote_rtcp = rtp, rtcp
        leg.rtcp_mux = media.has_attribute("rtcp-mux")

    def _widen(self, media: MediaDescription) -> MediaDescription:
        """Offer the other G.711 law too, so the far phone can pick either."""
        if media.port == 0 or media.media != "audio":
            return media
        offered = payload_types(media)
        for rtpmap in offered:
            peer = _G711_PEER.get(rtpmap.encoding.lower())
            if peer is not None and not any(peer[0].codec.matches(r) for r in offered):
                taken = {r.payload_type for r in offered}
                if peer[0].payload_type not in taken:
                    return add_format(media, peer[0])
        return media

    def _narrow(self, answer: MediaDescription, offer: MediaDescription) -> MediaDescription:
        """An answer naming a G.711 law the offerer lacks becomes the offerer's law
        (the relay transcodes)."""
        chosen = _first_audio(payload_types(answer))
        offered = payload_types(offer)
        if chosen is None or any(chosen.codec.matches(r) for r in offered):
            return answer
        peer = _G711_PEER.get(chosen.encoding.lower())
        theirs = next((r for r in offered if peer and peer[0].codec.matches(r)), None)
        if theirs is None:
            return answer
        rest = [int(f) for f in answer.formats if f != str(chosen.payload_type)]
        return keep_formats(add_format(answer, theirs), [theirs.payload_type, *rest])

    def _plan(
        self,
        stream: _Stream,
        index: int,
        offerer: str,
        answerer: str,
        answer: SessionDescription,
        answer_out: SessionDescription,
        offer_out: SessionDescription,
        offer: SessionDescription,
    ) -> None:
        sent_to_offerer = payload_types(answer_out.media[index])
        answered = payload_types(answer.media[index])
        # The offerer sends with the numbers of the answer it got, the answerer with
        # those of the offer it got (RFC 3264 section 5.1).
        stream.legs[offerer].plan = _forward_plan(sent_to_offerer, answered)
        stream.legs[answerer].plan = _forward_plan(
            payload_types(offer_out.media[index]), payload_types(offer.media[index])
        )
        for side, formats in ((offerer, sent_to_offerer), (answerer, answered)):
            codec = _first_audio(formats)
            stream.legs[side].received.clock_rate = codec.clock_rate if codec else 8000

    def _send(self, side: str, sdp: SessionDescription) -> bytes:
        """``sdp`` with our ``o=`` for that side; the version goes up only when the
        description changed (RFC 3264 section 8)."""
        origin = self._origins.get(side)
        address = self.relay.advertised_address
        if origin is None:
            session_id = str(abs(hash((self.call_id, side, id(self)))) % 10**12)
            origin = Origin("sipline", session_id, 1, address, "IP6" if ":" in address else "IP4")
        elif side in self._sent and self._sent[side].with_origin(origin) != sdp.with_origin(origin):
            origin = origin.next_version()
        self._origins[side] = origin
        sdp = sdp.with_origin(origin)
        self._sent[side] = sdp
        return bytes(sdp)

    # -- media timeout -------------------------------------------------------------------

    def _start_timer(self) -> None:
        if self._started is None:
            self._started = self.relay.clock()
        timeout = self.relay.config.media_timeout
        if timeout > 0 and self._timer is None and not self._timed_out:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(min(1.0, timeout / 4), self._check_timeout)

    def _check_timeout(self) -> None:
        self._timer = None
        if self.closed or self._started is None:
            return
        now = self.relay.clock()
        timeout = self.relay.config.media_timeout
        for index, stream in sorted(self._streams.items()):
            for side, leg in stream.legs.items():
                if not stream.sends[side]:
                    continue  # on hold / recvonly: silence is expected
                silent = now - max(leg.last_received or 0.0, self._started)
                if silent >= timeout:
                    self._timed_out = True
                    if self.on_timeout is not None:
                        self.on_timeout(MediaTimeout(self.call_id, side, index, silent))
                    return
        self._start_timer()


def relay_session_factory(
    relay: RtpRelay, on_timeout: Callable[[MediaTimeout], None] | None = None
) -> Callable[[str], RelayMediaSession]:
    """A ``MediaFactory`` for the B2BUA: ``factory(call_id) -> RelayMediaSession``."""

    def factory(call_id: str) -> RelayMediaSession:
        return RelayMediaSession(relay, call_id, on_timeout=on_timeout)

    return factory
