"""One conformance suite every transport passes (STYLE.md convention 9).

Each test runs against UDP, TCP, TLS and WS (and WSS where it matters) on 127.0.0.1
and ::1, listeners on free ports, with a raw peer built from sockets, ``ssl`` and a
wsproto client.  What differs by nature (datagrams cannot be split; WS peers cannot
be dialled) is asserted per transport, not skipped.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from pathlib import Path

import pytest
from transport_peers import (
    ALL,
    HOSTS,
    LOOPS,
    STREAMS,
    TIMEOUT,
    StreamPeer,
    WsPeer,
    peer_of,
    request,
    response,
    run_async,
    serve,
    until,
)
from wsproto.events import Ping, TextMessage

from sipline.sip import Address
from sipline.sip import Request as SipRequest
from sipline.transport import BadMessage, TransportError, ensure_self_signed

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tls")
    ensure_self_signed(path)
    return path


# -- the suite -------------------------------------------------------------------------------
@pytest.mark.parametrize("loop_name", LOOPS)
@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize("transport", ALL)
@run_async
async def test_request_in_and_response_back_over_the_same_flow(
    transport: str, host: str, cert_dir: Path, loop_name: str
) -> None:
    async with serve(transport, host, cert_dir) as server, peer_of(server, cert_dir) as peer:
        await peer.send(request(1))
        message, source, local = await server.receive()
        assert isinstance(message, SipRequest)
        assert message.method == "OPTIONS"
        assert bytes(message) == request(1)
        assert source == peer.address
        assert local == server.address
        assert local.port != 0
        await server.layer.send(response(1), source)
        assert await peer.receive() == response(1)
        # a second exchange reuses the same connection both ways
        await peer.send(request(2))
        await server.receive()
        await server.layer.send(response(2), source, local)
        assert await peer.receive() == response(2)
        stats = server.layer.stats
        assert (stats.received, stats.sent) == (2, 2)
        assert stats.connections_opened == (0 if transport == "udp" else 1)
        directions = [(d, data) for d, _, _, _, data in server.traces]
        assert directions == [
            ("recv", request(1)),
            ("send", response(1)),
            ("recv", request(2)),
            ("send", response(2)),
        ]
        assert {name for _, name, _, _, _ in server.traces} == {transport}
        assert {remote for _, _, _, remote, _ in server.traces} == {peer.address}


@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize("transport", ALL)
@run_async
async def test_several_messages_in_one_read(transport: str, host: str, cert_dir: Path) -> None:
    async with serve(transport, host, cert_dir) as server, peer_of(server, cert_dir) as peer:
        messages = [request(n, body=b"v=0\r\n" * n) for n in (1, 2, 3)]
        if isinstance(peer, WsPeer):
            await peer.send_raw(b"".join(peer.ws.send(TextMessage(m.decode())) for m in messages))
        elif isinstance(peer, StreamPeer):
            await peer.send(b"".join(messages))
        else:  # datagrams: three in a burst, each its own message
            for message in messages:
                await peer.send(message)
        received = [bytes((await server.receive())[0]) for _ in messages]
        assert sorted(received) == sorted(messages)


@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize("transport", STREAMS)
@run_async
async def test_message_fed_one_byte_at_a_time(transport: str, host: str, cert_dir: Path) -> None:
    async with serve(transport, host, cert_dir) as server, peer_of(server, cert_dir) as peer:
        message = request(7, body=b"hello")
        wire = peer.ws.send(TextMessage(message.decode())) if isinstance(peer, WsPeer) else message
        for i in range(len(wire)):
            await peer.send_raw(wire[i : i + 1])
        received, _, _ = await server.receive()
        assert bytes(received) == message


@pytest.mark.parametrize("loop_name", LOOPS)
@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize("transport", ALL)
@run_async
async def test_crlf_keepalive_ping_gets_pong(
    transport: str, host: str, cert_dir: Path, loop_name: str
) -> None:
    async with serve(transport, host, cert_dir) as server, peer_of(server, cert_dir) as peer:
        if isinstance(peer, WsPeer):
            await peer.send(b"\r\n\r\n")  # SIP.js-style ping frame
            assert await peer.receive() == b"\r\n"
            await peer.send_raw(peer.ws.send(Ping(b"x")))  # and the WebSocket ping
            await peer.send(request(1))
            await server.receive()
            await server.layer.send(response(1), peer.address)
            assert await peer.receive() == response(1)
            assert peer.pongs == 1
        elif isinstance(peer, StreamPeer):
            await peer.send(b"\r\n\r\n")  # RFC 5626 §3.5.1
            assert await peer.read_chunk() == b"\r\n"
            await peer.send(b"\r\n\r\n" + request(1))
            assert bytes((await server.receive())[0]) == request(1)
            assert await peer.read_chunk() == b"\r\n"
        else:  # UDP keep-alives are absorbed silently
            await peer.send(b"\r\n\r\n")
            await peer.send(request(1))
            assert bytes((await server.receive())[0]) == request(1)
        await until(lambda: server.layer.stats.keepalives >= 1)
        assert server.layer.stats.received == 1


@pytest.mark.parametrize("loop_name", LOOPS)
@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize("transport", ALL)
@run_async
async def test_oversize_message_is_refused(
    transport: str, host: str, cert_dir: Path, loop_name: str
) -> None:
    async with (
        serve(transport, host, cert_dir, max_message_size=2000) as server,
        peer_of(server, cert_dir) as peer,
    ):
        await peer.send(request(1, body=b"x" * 3000))
        stats = server.layer.stats
        if transport == "udp":
            await until(lambda: stats.dropped == 1)
            await peer.send(request(2))  # the listener goes on
            assert bytes((await server.receive())[0]) == request(2)
        else:
            assert await peer.wait_closed()
            await until(lambda: stats.framing_errors == 1 and stats.connections_closed == 1)
            assert server.inbox.empty()
            assert server.layer.listeners[0].connections == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize("transport", ["udp", "ws"])
@run_async
async def test_garbage_is_counted_and_listener_goes_on(
    transport: str, host: str, cert_dir: Path
) -> None:
    async with serve(transport, host, cert_dir) as server, peer_of(server, cert_dir) as peer:
        await peer.send(b"\x16\x03\x01 not sip at all\r\n\r\n")
        bad = request(3).replace(b"CSeq: 3 OPTIONS", b"CSeq: three OPTIONS")
        await peer.send(bad)
        item, source, _ = await server.receive()
        assert isinstance(item, BadMessage)  # request line and Via readable: answer 400
        assert item.data == bad
        assert "CSeq" in str(item.error)
        assert source == peer.address
        assert (server.layer.stats.dropped, server.layer.stats.parse_errors) == (1, 1)
        await peer.send(request(4))
        assert bytes((await server.receive())[0]) == request(4)


@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize("transport", ["tcp", "tls"])
@run_async
async def test_framing_error_closes_the_connection(
    transport: str, host: str, cert_dir: Path
) -> None:
    async with serve(transport, host, cert_dir) as server, peer_of(server, cert_dir) as peer:
        await peer.send(request(1).replace(b"Content-Length: 0\r\n", b""))
        assert await peer.wait_closed()
        await until(lambda: server.layer.stats.framing_errors == 1)
        async with peer_of(server, cert_dir) as second:  # the listener still accepts
            await second.send(request(2))
            assert bytes((await server.receive())[0]) == request(2)


@pytest.mark.parametrize("loop_name", LOOPS)
@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize("transport", ["tcp", "tls"])
@run_async
async def test_outbound_connection_opened_once_and_reused(
    transport: str, host: str, cert_dir: Path, loop_name: str
) -> None:
    """With no connection to the destination, TCP/TLS dial it (RFC 3261 §18.1.1)."""
    accepted: asyncio.Queue[StreamPeer] = asyncio.Queue()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.put_nowait(StreamPeer(reader, writer, transport))

    context = None
    if transport == "tls":
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_dir / "tls-cert.pem", cert_dir / "tls-key.pem")
    remote = await asyncio.start_server(on_connect, host, 0, ssl=context)
    port = remote.sockets[0].getsockname()[1]
    try:
        async with serve(transport, host, cert_dir) as server:
            destination = Address(transport, host, port)
            await asyncio.gather(
                server.layer.send(request(1), destination),
                server.layer.send(request(2), destination),
            )
            peer = await asyncio.wait_for(accepted.get(), TIMEOUT)
            try:
                assert sorted([await peer.receive(), await peer.receive()]) == [
                    request(1),
                    request(2),
                ]
                await peer.send(response(1))
                message, source, _ = await server.receive()
                assert bytes(message) == response(1)
                assert source == destination
                assert accepted.empty()
                assert server.layer.stats.connections_opened == 1
            finally:
                await peer.close()
    finally:
        remote.close()
        await remote.wait_closed()


@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize("transport", ["tcp", "tls", "ws"])
@run_async
async def test_unreachable_destination_raises_transport_error(
    transport: str, host: str, cert_dir: Path
) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        closed_port = probe.getsockname()[1]  # bound, not listening: connection refused
        async with serve(transport, host, cert_dir) as server:
            with pytest.raises(TransportError, match="connect"):
                await server.layer.send(request(1), Address(transport, host, closed_port))
            assert server.layer.stats.send_errors == 1


@pytest.mark.parametrize("transport", ["tcp", "ws"])
@run_async
async def test_idle_connection_is_closed(transport: str, cert_dir: Path) -> None:
    async with (
        serve(transport, "127.0.0.1", cert_dir, idle_timeout=0.3) as server,
        peer_of(server, cert_dir) as peer,
    ):
        await peer.send(request(1))
        await server.receive()
        assert await peer.wait_closed()
        assert server.layer.stats.idle_closed == 1
        with pytest.raises(TransportError):
            await server.layer.send(response(1), peer.address)
