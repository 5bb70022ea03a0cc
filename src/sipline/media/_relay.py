"""The RTP relay: a port pair per call leg, symmetric RTP, RTCP, per-stream counters.

Each ``RelayLeg`` faces one phone on its own (even RTP, odd RTCP) port pair and is
bridged to the ``RelayLeg`` facing the other phone.  A packet received on one leg is
counted and sent out of the other leg's socket to the other phone.  Where to send is
learnt from what arrives (symmetric RTP, RFC 4961): the SDP address is only used
until the phone's first packet, so a phone behind NAT that advertised its private
address still gets audio.  SSRC, sequence numbers and timestamps pass through; the
payload type octet and the payload are rewritten only when the legs numbered their
formats differently or one leg has PCMU and the other PCMA.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from sipline.media._ports import PortAllocator, bind_pair
from sipline.media._rtp import StreamStatistics

__all__ = ["ForwardPlan", "RelayConfig", "RelayLeg", "RtpRelay"]

logger = logging.getLogger("sipline.media")

Endpoint = tuple[str, int]


@dataclass(frozen=True, slots=True)
class RelayConfig:
    """``address``: where the relay binds; ``advertised_address``: what the SDP says
    (a public address in front of a 1:1 NAT), the bind address when ``None``."""

    address: str = "127.0.0.1"
    advertised_address: str | None = None
    rtp_ports: str | tuple[int, int] = "16384-32767"
    #: No RTP from a leg for this long hangs the call up (0 disables).
    media_timeout: float = 30.0
    #: A latched source silent this long may be replaced by another (NAT rebinding).
    relatch_after: float = 2.0
    #: Offer PCMA to the far leg when the near one has only PCMU (and vice versa).
    transcode: bool = True
    socket_buffer: int | None = None


class ForwardPlan:
    """How packets from one leg become packets for the other: a table for the
    marker/payload-type octet and, per received payload type, a 256-octet table to
    ``bytes.translate`` the payload with (G.711 transcoding)."""

    __slots__ = ("second_octet", "transcode")

    def __init__(self, payload_types: dict[int, int], transcode: dict[int, bytes]) -> None:
        table = bytearray(range(256))
        for received, sent in payload_types.items():
            table[received] = sent  # marker bit clear
            table[received | 0x80] = sent | 0x80
        self.second_octet = bytes(table)
        self.transcode = transcode

    @property
    def is_identity(self) -> bool:
        return not self.transcode and self.second_octet == bytes(range(256))

    def apply(self, data: bytes) -> bytes:
        second = data[1]
        table = self.transcode.get(second & 0x7F)
        new_second = self.second_octet[second]
        if table is None:
            if new_second == second:
                return data
            return b"%c%c" % (data[0], new_second) + data[2:]
        start = 12 + 4 * (data[0] & 0x0F)
        if data[0] & 0x10 and len(data) >= start + 4:  # header extension (RFC 3550 5.3.1)
            start += 4 + 4 * int.from_bytes(data[start + 2 : start + 4], "big")
        end = len(data) - (data[-1] if data[0] & 0x20 else 0)  # padding
        return (
            b"%c%c" % (data[0], new_second)
            + data[2:start]
            + data[start:end].translate(table)
            + data[end:]
        )


class _LegProtocol(asyncio.DatagramProtocol):
    def __init__(self, leg: RelayLeg, *, rtcp: bool) -> None:
        self._leg = leg
        self._rtcp = rtcp

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (asyncio's selector datagram transport is not a DatagramTransport subclass)
        transport = cast(asyncio.DatagramTransport, transport)
        if self._rtcp:
            self._leg.rtcp_transport = transport
        else:
            self._leg.rtp_transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self._rtcp:
            self._leg.on_rtcp(data, addr)
        else:
            self._leg.on_rtp(data, addr)

    def error_received(self, exc: Exception) -> None:
        self._leg.send_errors += 1  # ICMP port unreachable from a phone gone away


class RelayLeg:
    """One side of a relayed stream: the port pair facing one phone."""

    def __init__(
        self,
        name: str,
        port: int,
        sockets: tuple[socket.socket, socket.socket],
        config: RelayConfig,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.port = port
        self._sockets = sockets
        self._relatch_after = config.relatch_after
        self._clock = clock
        self.rtp_transport: asyncio.DatagramTransport | None = None
        self.rtcp_transport: asyncio.DatagramTransport | None = None
        self._attach: asyncio.Task[None] | None = None
        self.peer: RelayLeg | None = None
        #: Where the phone's SDP says to send RTP / RTCP (until it is heard from).
        self.remote_rtp: Endpoint | None = None
        self.remote_rtcp: Endpoint | None = None
        #: The phone's real source addresses, learnt from its packets.
        self.source: Endpoint | None = None
        self.rtcp_source: Endpoint | None = None
        self.rtcp_mux = False  # the phone takes RTCP on its RTP port (RFC 5761)
        self.plan: ForwardPlan | None = None  # applied to what this leg receives
        #: Sees every RTP packet this leg receives, as received (call recording).
        self.tap: Callable[[bytes, float], None] | None = None
        self.received = StreamStatistics()
        self.last_received: float | None = None
        self.rtcp_received = 0
        self.sent_packets = 0
        self.sent_octets = 0
        self.rtcp_sent = 0
        self.foreign_packets = 0  # from a source other than the latched one
        self.dropped = 0  # not RTP/RTCP, or nowhere to send yet
        self.send_errors = 0
        self.closed = False

    # -- receiving (the hot path) -----------------------------------------------------

    def on_rtp(self, data: bytes, addr: Endpoint) -> None:
        if len(data) < 12 or data[0] & 0xC0 != 0x80 or 192 <= data[1] <= 223:
            if len(data) >= 8 and 192 <= data[1] <= 223:
                self.on_rtcp(data, addr)  # RTCP multiplexed on the RTP port (RFC 5761 §4)
            else:
                self.dropped += 1  # STUN keep-alives, garbage
            return
        now = self._clock()
        if addr != self.source and not self._latch(addr, now, rtcp=False):
            return
        self.last_received = now
        self.received.update(data, now)
        if self.tap is not None:
            self.tap(data, now)
        peer = self.peer
        if peer is None:
            return
        plan = self.plan
        if plan is not None:
            data = plan.apply(data)
        destination = peer.source or peer.remote_rtp
        transport = peer.rtp_transport
        if destination is None or transport is None:
            peer.dropped += 1
            return
        transport.sendto(data, destination)
        peer.sent_packets += 1
        peer.sent_octets += len(data)

    def on_rtcp(self, data: bytes, addr: Endpoint) -> None:
        if len(data) < 8 or data[0] & 0xC0 != 0x80:
            self.dropped += 1
            return
        if (
            addr != self.rtcp_source
            and addr != self.source
            and not self._latch(addr, self._clock(), rtcp=True)
        ):
            return
        self.rtcp_received += 1
        if self.peer is not None:
            self.peer.send_rtcp(data)

    def _latch(self, addr: Endpoint, now: float, *, rtcp: bool) -> bool:
        """Symmetric RTP (RFC 4961): learn the phone's real address from its first
        packet; later another source takes over only once the learnt one has been
        silent ``relatch_after`` seconds (a NAT binding that changed)."""
        current = self.rtcp_source if rtcp else self.source
        if current is not None and (
            self.last_received is not None and now - self.last_received < self._relatch_after
        ):
            self.foreign_packets += 1
            return False
        if rtcp:
            self.rtcp_source = addr
        else:
            self.source = addr
        logger.debug(
            "leg %s port %d latched %s to %s:%d (SDP said %s)",
            self.name,
            self.port,
            "RTCP" if rtcp else "RTP",
            *addr[:2],
            self.remote_rtcp if rtcp else self.remote_rtp,
        )
        return True

    def send_rtcp(self, data: bytes) -> None:
        """RTCP towards this leg's phone: on its RTP port with rtcp-mux, else on its
        RTCP port (learnt, else ``a=rtcp`` / RTP port + 1 from its SDP)."""
        if self.rtcp_mux:
            destination, transport = self.source or self.remote_rtp, self.rtp_transport
        else:
            destination = self.rtcp_source or self.remote_rtcp
            if destination is None and self.source is not None:
                destination = (self.source[0], self.source[1] + 1)
            transport = self.rtcp_transport
        if destination is None or transport is None:
            self.dropped += 1
            return
        transport.sendto(data, destination)
        self.rtcp_sent += 1

    # -- life cycle -------------------------------------------------------------------

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start receiving: wrap the bound sockets in asyncio datagram transports."""
        self._attach = loop.create_task(self._create_endpoints(loop))

    async def _create_endpoints(self, loop: asyncio.AbstractEventLoop) -> None:
        rtp_sock, rtcp_sock = self._sockets
        await loop.create_datagram_endpoint(lambda: _LegProtocol(self, rtcp=False), sock=rtp_sock)
        await loop.create_datagram_endpoint(lambda: _LegProtocol(self, rtcp=True), sock=rtcp_sock)

    async def ready(self) -> None:
        if self._attach is not None:
            await asyncio.shield(self._attach)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.tap = None
        if self._attach is not None and not self._attach.done():
            self._attach.cancel()
        for transport in (self.rtp_transport, self.rtcp_transport):
            if transport is not None:
                transport.close()
        if self.rtp_transport is None:
            self._sockets[0].close()
        if self.rtcp_transport is None:
            self._sockets[1].close()
        self.peer = None


class RtpRelay:
    """The relay service: hands out legs on port pairs of the configured range.

    ``packets_relayed``, ``packets_lost`` and ``active_sessions`` (counters since
    start, closed legs included) make it the admin metrics' ``MediaStats``."""

    def __init__(
        self, config: RelayConfig | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config or RelayConfig()
        self.allocator = PortAllocator(self.config.rtp_ports)
        self.clock = clock
        self._legs: set[RelayLeg] = set()
        self._closed_relayed = 0  # counters of the legs already closed
        self._closed_lost = 0

    @property
    def advertised_address(self) -> str:
        return self.config.advertised_address or self.config.address

    @property
    def open_legs(self) -> int:
        return len(self._legs)

    @property
    def packets_relayed(self) -> int:
        """RTP packets sent on to a phone since start."""
        return self._closed_relayed + sum(leg.sent_packets for leg in self._legs)

    @property
    def packets_lost(self) -> int:
        """RTP packets the phones sent that never arrived (RFC 3550 §6.4.1), since start."""
        return self._closed_lost + sum(leg.received.lost for leg in self._legs)

    @property
    def active_sessions(self) -> int:
        """Relayed streams open now (a leg pair each)."""
        return len(self._legs) // 2

    def open_leg(self, name: str) -> RelayLeg:
        """Bind a port pair now (so its port can go into the SDP at once) and start
        receiving on it in the running loop."""
        loop = asyncio.get_running_loop()
        port, rtp_sock, rtcp_sock = bind_pair(self.allocator, self.config.address)
        if self.config.socket_buffer:
            for sock in (rtp_sock, rtcp_sock):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.config.socket_buffer)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.config.socket_buffer)
        leg = RelayLeg(name, port, (rtp_sock, rtcp_sock), self.config, self.clock)
        leg.attach(loop)
        self._legs.add(leg)
        return leg

    def close_leg(self, leg: RelayLeg) -> None:
        leg.close()
        if leg in self._legs:
            self._legs.discard(leg)
            self._closed_relayed += leg.sent_packets
            self._closed_lost += leg.received.lost
            self.allocator.release(leg.port)

    @staticmethod
    def bridge(a: RelayLeg, b: RelayLeg) -> None:
        a.peer = b
        b.peer = a

    def close(self) -> None:
        for leg in list(self._legs):
            self.close_leg(leg)

    async def aclose(self) -> None:
        """Close every leg and let the transports finish closing."""
        self.close()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
