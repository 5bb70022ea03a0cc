"""The relay with real UDP sockets on 127.0.0.1: two fake phones call through a
RelayMediaSession the way the B2BUA drives it (offer from the caller, answer from the
callee), and RTP/RTCP must arrive both ways, latched, counted, transcoded."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Awaitable, Callable
from typing import cast

import pytest

from sipline.media import (
    BypassMediaSession,
    MediaTimeout,
    PortAllocator,
    PortsExhausted,
    RelayConfig,
    RelayMediaSession,
    RtpHeader,
    RtpRelay,
    relay_session_factory,
)
from sipline.sdp import SdpParseError, SessionDescription, direction_of, payload_types
from sipline.sip import LocalProtocolError

Address = tuple[str, int]


class FakePhone(asyncio.DatagramProtocol):
    """A UDP socket on 127.0.0.1 that records what it receives, with the source."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, Address]] = []
        self.transport: asyncio.DatagramTransport | None = None
        self.arrived = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (asyncio's selector datagram transport is not a DatagramTransport subclass)
        transport = cast(asyncio.DatagramTransport, transport)
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.received.append((data, addr))
        self.arrived.set()

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def send(self, data: bytes, to: Address) -> None:
        assert self.transport is not None
        self.transport.sendto(data, to)

    def headers(self) -> list[RtpHeader]:
        return [h for data, _ in self.received if (h := RtpHeader.parse(data)) is not None]


async def phone() -> FakePhone:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        FakePhone, local_addr=("127.0.0.1", 0)
    )
    protocol.transport = transport
    return protocol


def sdp(port: int, codecs: str = "0 101", *, address: str = "127.0.0.1", extra: str = "") -> bytes:
    lines = [
        "v=0",
        f"o=phone 1 1 IN IP4 {address}",
        "s=call",
        f"c=IN IP4 {address}",
        "t=0 0",
        f"m=audio {port} RTP/AVP {codecs}",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-16",
        *extra.split("|"),
    ]
    return ("\r\n".join(line for line in lines if line) + "\r\n").encode()


def rtp(seq: int, *, pt: int = 0, ssrc: int = 0xCAFE, payload: bytes = b"\xff" * 160) -> bytes:
    return RtpHeader(False, pt, seq, seq * 160, ssrc).pack(payload)


async def until(condition: Callable[[], bool], within: float = 2.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


def run(test: Callable[[RtpRelay], Awaitable[None]], **config: object) -> None:
    async def main() -> None:
        relay = RtpRelay(RelayConfig(rtp_ports=(30000, 30999), **config))  # type: ignore[arg-type]
        try:
            await test(relay)
        finally:
            await relay.aclose()

    asyncio.run(main())


async def close_all(*phones: FakePhone) -> None:
    for p in phones:
        assert p.transport is not None
        p.transport.close()
    await asyncio.sleep(0)


def relay_port(body: bytes) -> int:
    return SessionDescription.parse(body).media[0].port


def test_audio_both_ways_through_the_relay() -> None:
    async def body(relay: RtpRelay) -> None:
        alice, bob = await phone(), await phone()
        session = RelayMediaSession(relay, "call-1")
        offer_to_bob = session.offer(sdp(alice.port), from_caller=True)
        answer_to_alice = session.answer(sdp(bob.port), from_caller=False)
        await session.ready()
        to_bob, to_alice = relay_port(offer_to_bob), relay_port(answer_to_alice)
        assert to_bob != to_alice
        assert b"c=IN IP4 127.0.0.1" in offer_to_bob
        for seq in range(10):
            alice.send(rtp(seq, ssrc=0xA), ("127.0.0.1", to_alice))
            bob.send(rtp(1000 + seq, ssrc=0xB), ("127.0.0.1", to_bob))
        await until(lambda: len(alice.received) == 10 and len(bob.received) == 10)
        # Symmetric: each phone hears from the port it sends to; SSRC/seq untouched.
        assert {addr for _, addr in bob.received} == {("127.0.0.1", to_bob)}
        assert {addr for _, addr in alice.received} == {("127.0.0.1", to_alice)}
        assert [h.sequence for h in bob.headers()] == list(range(10))
        assert {h.ssrc for h in bob.headers()} == {0xA}
        assert {h.ssrc for h in alice.headers()} == {0xB}
        stats = session.stats()
        caller = stats.leg("caller")
        assert caller is not None
        assert (caller.packets_received, caller.packets_sent) == (10, 10)
        assert caller.octets_received == 1600
        assert caller.local_port == to_alice
        assert caller.remote == f"127.0.0.1:{alice.port}"
        assert stats.p_rtp_stat("callee").startswith("PS=10;OS=1720;PR=10;OR=1600;PL=0;")
        session.close()
        await close_all(alice, bob)

    run(body)


def test_phone_advertising_a_wrong_address_still_gets_audio() -> None:
    """Bob is behind NAT: his SDP names his inside address (here a port nobody reads
    but a black-hole socket), his packets come from his NAT mapping (another socket).
    Until his first packet the relay can only use the SDP; from then on it latches."""

    async def body(relay: RtpRelay) -> None:
        alice, bob_inside, bob_public = await phone(), await phone(), await phone()
        session = RelayMediaSession(relay, "nat")
        offer = session.offer(sdp(alice.port), from_caller=True)
        answer = session.answer(sdp(bob_inside.port), from_caller=False)
        await session.ready()
        to_bob, to_alice = relay_port(offer), relay_port(answer)
        alice.send(rtp(1), ("127.0.0.1", to_alice))
        await until(lambda: len(bob_inside.received) == 1)  # SDP address: lost
        bob_public.send(rtp(500, ssrc=0xB), ("127.0.0.1", to_bob))  # latches
        await until(lambda: len(alice.received) == 1)
        for seq in range(2, 7):
            alice.send(rtp(seq), ("127.0.0.1", to_alice))
        await until(lambda: len(bob_public.received) == 5)
        assert len(bob_inside.received) == 1
        assert [h.sequence for h in bob_public.headers()] == [2, 3, 4, 5, 6]
        callee = session.stats().leg("callee")
        assert callee is not None
        assert callee.latched
        assert callee.remote == f"127.0.0.1:{bob_public.port}"
        # A third party cannot take the stream over while Bob talks.
        intruder = await phone()
        intruder.send(rtp(900, ssrc=0xE), ("127.0.0.1", to_bob))
        bob_public.send(rtp(501, ssrc=0xB), ("127.0.0.1", to_bob))
        await until(lambda: len(alice.received) == 2)
        await asyncio.sleep(0.02)
        assert {h.ssrc for h in alice.headers()} == {0xB}
        assert session.stats().leg("callee").foreign_packets == 1  # type: ignore[union-attr]
        session.close()
        await close_all(alice, bob_inside, bob_public, intruder)

    run(body)


def test_rtcp_on_port_plus_one_and_multiplexed() -> None:
    async def body(relay: RtpRelay) -> None:
        alice, alice_rtcp, bob = await phone(), await phone(), await phone()
        session = RelayMediaSession(relay, "rtcp")
        # Alice: separate RTCP port given by a=rtcp; Bob: rtcp-mux (RFC 5761).
        offer = session.offer(
            sdp(alice.port, extra=f"a=rtcp:{alice_rtcp.port}|a=rtcp-mux"), from_caller=True
        )
        assert b"a=rtcp-mux" in offer
        answer = session.answer(sdp(bob.port, extra="a=rtcp-mux"), from_caller=False)
        await session.ready()
        to_bob, to_alice = relay_port(offer), relay_port(answer)
        receiver_report = struct.pack("!BBHI", 0x80, 201, 1, 0xB)
        bob.send(receiver_report, ("127.0.0.1", to_bob))  # muxed on the RTP port
        await until(lambda: len(alice.received) + len(alice_rtcp.received) == 1)
        # The answer to Alice has rtcp-mux too: she gets it on her RTP port.
        assert alice.received[0] == (receiver_report, ("127.0.0.1", to_alice))
        sender_report = struct.pack("!BBHI", 0x80, 200, 1, 0xA) + bytes(20)
        alice.send(sender_report, ("127.0.0.1", to_alice + 1))
        await until(lambda: len(bob.received) == 1)
        assert bob.received[0] == (sender_report, ("127.0.0.1", to_bob))
        stats = session.stats().leg("caller")
        assert stats is not None
        assert (stats.rtcp_received, stats.rtcp_sent) == (1, 1)
        session.close()
        await close_all(alice, alice_rtcp, bob)

    run(body)


def test_rtcp_without_mux_goes_to_the_odd_port() -> None:
    async def body(relay: RtpRelay) -> None:
        alice, bob = await phone(), await phone()
        bob_rtcp = await phone()
        session = RelayMediaSession(relay, "rtcp2")
        offer = session.offer(sdp(alice.port), from_caller=True)
        session.answer(sdp(bob.port, extra=f"a=rtcp:{bob_rtcp.port}"), from_caller=False)
        await session.ready()
        answer_port = session.ports("caller")[0]
        report = struct.pack("!BBHI", 0x80, 201, 1, 0xA)
        alice.send(report, ("127.0.0.1", answer_port + 1))
        await until(lambda: len(bob_rtcp.received) == 1)
        assert bob_rtcp.received[0] == (report, ("127.0.0.1", relay_port(offer) + 1))
        session.close()
        await close_all(alice, bob, bob_rtcp)

    run(body)


def test_pcmu_caller_pcma_callee_is_transcoded() -> None:
    async def body(relay: RtpRelay) -> None:
        alice, bob = await phone(), await phone()
        session = RelayMediaSession(relay, "transcode")
        offer = session.offer(sdp(alice.port, "0 101"), from_caller=True)
        offered = [r.encoding for r in payload_types(SessionDescription.parse(offer).media[0])]
        assert offered == ["PCMU", "telephone-event", "PCMA"]  # PCMA added, last
        answer = session.answer(sdp(bob.port, "8 101"), from_caller=False)
        answered = SessionDescription.parse(answer).media[0]
        assert answered.formats == ("0", "101")  # Alice is told PCMU, as she offered
        await session.ready()
        to_bob, to_alice = relay_port(offer), relay_port(answer)
        alice.send(rtp(1, pt=0, payload=b"\xff\x00\x80"), ("127.0.0.1", to_alice))
        bob.send(rtp(2, pt=8, payload=b"\xd5\x2a\xaa"), ("127.0.0.1", to_bob))
        event = b"\x05\x0a\x00\xa0"
        alice.send(rtp(3, pt=101, payload=event), ("127.0.0.1", to_alice))
        await until(lambda: len(alice.received) == 1 and len(bob.received) == 2)
        to_b = bob.received[0][0]
        assert to_b[1] == 8
        assert to_b[12:] == b"\xd5\x2a\xaa"  # µ-law silence/extremes in A-law
        to_a = alice.received[0][0]
        assert to_a[1] == 0
        assert to_a[12:] == b"\xfe\x00\x80"  # A-law has no 0: its +8 is µ-law 0xFE
        assert bob.received[1][0][1] == 101  # DTMF event passes untouched
        assert bob.received[1][0][12:] == event
        session.close()
        await close_all(alice, bob)

    run(body)


def test_common_codec_means_no_transcoding() -> None:
    async def body(relay: RtpRelay) -> None:
        session = RelayMediaSession(relay, "plain")
        offer = session.offer(sdp(4000, "8 0 101"), from_caller=True)
        assert SessionDescription.parse(offer).media[0].formats == ("8", "0", "101")
        answer = session.answer(sdp(4002, "0 101"), from_caller=False)
        assert SessionDescription.parse(answer).media[0].formats == ("0", "101")
        await session.ready()
        assert all(leg.plan is None for s in session._streams.values() for leg in s.legs.values())
        session.close()

    run(body)


def test_media_timeout_names_the_silent_leg() -> None:
    async def body(relay: RtpRelay) -> None:
        alice, bob = await phone(), await phone()
        timeouts: list[MediaTimeout] = []
        session = RelayMediaSession(relay, "quiet", on_timeout=timeouts.append)
        session.offer(sdp(alice.port), from_caller=True)
        session.answer(sdp(bob.port), from_caller=False)
        await session.ready()
        to_alice = session.ports("caller")[0]
        for seq in range(12):  # Alice talks for 0.36 s; Bob never does
            alice.send(rtp(seq), ("127.0.0.1", to_alice))
            await asyncio.sleep(0.03)
        await until(lambda: bool(timeouts), within=2.0)
        (timeout,) = timeouts
        assert (timeout.call_id, timeout.leg, timeout.stream) == ("quiet", "callee", 0)
        assert timeout.silent_for >= 0.3
        assert str(timeout).startswith("media timeout: no RTP from the callee for")
        session.close()
        await close_all(alice, bob)

    run(body, media_timeout=0.3)


def test_held_leg_does_not_time_out() -> None:
    async def body(relay: RtpRelay) -> None:
        timeouts: list[MediaTimeout] = []
        session = RelayMediaSession(relay, "hold", on_timeout=timeouts.append)
        session.offer(sdp(4000, extra="a=inactive"), from_caller=True)
        answer = session.answer(sdp(4002, extra="a=inactive"), from_caller=False)
        parsed = SessionDescription.parse(answer)
        assert direction_of(parsed, parsed.media[0]).value == "inactive"
        await asyncio.sleep(0.4)
        assert timeouts == []
        session.close()

    run(body, media_timeout=0.2)


def test_reoffer_keeps_ports_and_bumps_the_origin_version() -> None:
    async def body(relay: RtpRelay) -> None:
        session = RelayMediaSession(relay, "reinvite")
        first = SessionDescription.parse(session.offer(sdp(4000), from_caller=True))
        session.answer(sdp(4002), from_caller=False)
        again = SessionDescription.parse(session.offer(sdp(4000), from_caller=True))
        assert again.origin == first.origin  # nothing changed: same version
        held = SessionDescription.parse(
            session.offer(sdp(4000, extra="a=sendonly"), from_caller=True)
        )
        assert held.media[0].port == first.media[0].port
        assert held.origin is not None
        assert first.origin is not None
        assert held.origin.session_version == first.origin.session_version + 1
        assert direction_of(held, held.media[0]).value == "sendonly"
        # The callee may re-offer too (from_caller=False), on the same legs.
        from_bob = SessionDescription.parse(session.offer(sdp(4002), from_caller=False))
        assert from_bob.media[0].port == session.ports("caller")[0]
        session.close()
        assert relay.open_legs == 0

    run(body)


def test_unsupported_stream_gets_port_zero_on_both_sides() -> None:
    async def body(relay: RtpRelay) -> None:
        session = RelayMediaSession(relay, "fax")
        offer = sdp(4000, extra="m=image 6000 udptl t38|c=IN IP4 127.0.0.1")
        out = SessionDescription.parse(session.offer(offer, from_caller=True))
        assert [m.port for m in out.media][1] == 0
        answer = sdp(4002, extra="m=image 0 udptl t38")
        back = SessionDescription.parse(session.answer(answer, from_caller=False))
        assert back.media[1].port == 0
        assert relay.open_legs == 2  # one stream, two legs
        session.close()

    run(body)


def test_errors_and_misuse() -> None:
    async def body(relay: RtpRelay) -> None:
        session = RelayMediaSession(relay, "bad")
        with pytest.raises(LocalProtocolError):
            session.answer(sdp(4002), from_caller=False)
        with pytest.raises(SdpParseError):
            session.offer(b"not sdp", from_caller=True)
        no_connection = b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 5 RTP/AVP 0\r\n"
        with pytest.raises(SdpParseError):
            session.offer(no_connection, from_caller=True)
        session.close()
        with pytest.raises(LocalProtocolError):
            session.offer(sdp(4000), from_caller=True)
        assert relay.open_legs == 0

    run(body)


def test_factory_bypass_and_port_allocator() -> None:
    async def body(relay: RtpRelay) -> None:
        factory = relay_session_factory(relay)
        session = factory("c1")
        assert session.call_id == "c1"
        session.close()
        bypass = BypassMediaSession("c2")
        body_ = sdp(4000, extra="a=candidate:1 1 UDP 1 10.0.0.1 4000 typ host")
        assert bypass.offer(body_, from_caller=True) is body_
        assert bypass.answer(body_, from_caller=False) is body_
        assert bypass.stats().legs == ()

    run(body)
    allocator = PortAllocator("16384-16389")
    assert [allocator.allocate() for _ in range(3)] == [16384, 16386, 16388]
    with pytest.raises(PortsExhausted):
        allocator.allocate()
    allocator.release(16386)
    assert allocator.allocate() == 16386
    for bad in ("16384", "a-b", "100-200", "30000-20000"):
        with pytest.raises(ValueError, match="rtp_ports"):
            PortAllocator(bad)
