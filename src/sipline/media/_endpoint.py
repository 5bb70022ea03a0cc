"""sipline's own RTP endpoint: a port pair from the relay's range on which the
server itself sends and receives media (echo, tones, playback, IVR prompts).

``RtpEndpoint(allocator, address)`` binds at once (its port goes into our SDP);
``await start()`` begins receiving; ``configure()`` applies the negotiated stream;
``await play(source)`` sends ``source``'s audio paced every ``ptime`` ms; received
packets go to ``on_packet``.  Where to send is the SDP address until the peer's first
packet, then that packet's source (symmetric RTP, RFC 4961).
"""

from __future__ import annotations

import asyncio
from array import array
from collections.abc import Callable
from typing import Protocol

from sipline.media._packets import G711_ENCODERS, RtpPacketizer
from sipline.media._ports import PortAllocator, bind_pair

__all__ = ["FrameSource", "RtpEndpoint", "SampleSource"]

Endpoint = tuple[str, int]


class FrameSource(Protocol):
    def read(self, count: int) -> array[int] | None:
        """The next ``count`` samples (padded with silence at the end); None when done."""


class SampleSource:
    """A sound in memory (a WAV file read with ``read_wav``), or silence."""

    __slots__ = ("_position", "samples")

    def __init__(self, samples: array[int]) -> None:
        self.samples = samples
        self._position = 0

    @classmethod
    def silence(cls, seconds: float, rate: int = 8000) -> SampleSource:
        return cls(array("h", bytes(2 * int(seconds * rate))))

    def read(self, count: int) -> array[int] | None:
        if self._position >= len(self.samples):
            return None
        chunk = self.samples[self._position : self._position + count]
        self._position += count
        if len(chunk) < count:
            chunk.extend(array("h", bytes(2 * (count - len(chunk)))))
        return chunk


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, endpoint: RtpEndpoint) -> None:
        self._endpoint = endpoint

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._endpoint.received(data, addr)

    def error_received(self, exc: Exception) -> None:
        self._endpoint.send_errors += 1


class RtpEndpoint:
    """One audio stream terminated by sipline (G.711, 8 kHz)."""

    def __init__(self, allocator: PortAllocator, address: str) -> None:
        self.allocator = allocator
        self.port, self._rtp_sock, self._rtcp_sock = bind_pair(allocator, address)
        self.transport: asyncio.DatagramTransport | None = None
        self.remote: Endpoint | None = None  # from the SDP
        self.source: Endpoint | None = None  # learnt from the first packet
        self.payload_type = 0
        self.codec = "PCMU"
        self.event_payload_type: int | None = None
        self.ptime = 20
        self.clock_rate = 8000
        self.packetizer = RtpPacketizer()
        self.on_packet: Callable[[bytes, float], None] | None = None
        self.sent_packets = 0
        self.received_packets = 0
        self.send_errors = 0
        self.closed = False
        self._resume_at: float | None = None  # when the next paced packet was due

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(self), sock=self._rtp_sock
        )
        self.transport = transport
        if self.closed:
            self.transport.close()

    def configure(
        self,
        remote: Endpoint | None,
        *,
        payload_type: int,
        codec: str,
        event_payload_type: int | None = None,
        ptime: int = 20,
    ) -> None:
        if codec.upper() not in G711_ENCODERS:
            raise ValueError(f"RtpEndpoint sends G.711 only, not {codec}")
        if remote != self.remote:
            self.source = None  # a new address from a re-INVITE: learn again
        self.remote = remote
        self.payload_type = payload_type
        self.codec = codec.upper()
        self.event_payload_type = event_payload_type
        self.ptime = ptime

    @property
    def destination(self) -> Endpoint | None:
        return self.source or self.remote

    def received(self, data: bytes, addr: Endpoint) -> None:
        if len(data) < 12 or data[0] & 0xC0 != 0x80 or 192 <= data[1] <= 223:
            return  # not RTP (RTCP multiplexed, STUN, garbage)
        if self.source is None:
            self.source = addr[:2]
        elif addr[:2] != self.source:
            return  # another sender on our port
        self.received_packets += 1
        if self.on_packet is not None:
            self.on_packet(data, asyncio.get_running_loop().time())

    def send(self, data: bytes) -> None:
        destination = self.destination
        if self.transport is None or destination is None or self.closed:
            return
        self.transport.sendto(data, destination)
        self.sent_packets += 1

    async def play(self, source: FrameSource, *, seconds: float | None = None) -> bool:
        """Send ``source`` in real time, one packet per ``ptime`` (the marker bit on
        the first); True when it ran to its end (or ``seconds``), False when closed."""
        loop = asyncio.get_running_loop()
        frame = self.clock_rate * self.ptime // 1000
        encode = G711_ENCODERS[self.codec]
        now = loop.time()
        if self._resume_at is not None and now > self._resume_at:
            self.packetizer.skip(int((now - self._resume_at) * self.clock_rate))
        self.packetizer.start_talkspurt()
        due = now
        limit = None if seconds is None else int(seconds * 1000 // self.ptime)
        sent = 0
        while not self.closed and (limit is None or sent < limit):
            samples = source.read(frame)
            if samples is None:
                break
            self.send(self.packetizer.packet(self.payload_type, encode(samples), frame))
            sent += 1
            due += self.ptime / 1000
            delay = due - loop.time()
            if delay < -0.2:
                due = loop.time()  # far behind (a busy loop): do not send a burst
            await asyncio.sleep(max(0.0, delay))
        self._resume_at = due
        return not self.closed

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.transport is not None:
            self.transport.close()
        else:
            self._rtp_sock.close()
        self._rtcp_sock.close()
        self.allocator.release(self.port)
