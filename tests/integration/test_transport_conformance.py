"""One conformance suite every transport passes (STYLE.md convention 9).

Each test runs against UDP, TCP, TLS and WS (and WSS where it matters) on 127.0.0.1
and ::1, listeners on free ports, with a raw peer built from sockets, ``ssl`` and a
wsproto client.  What differs by nature (datagrams cannot be split; WS peers cannot
be dialled) is asserted per transport, not skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import ssl
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ParamSpec, cast

import pytest
import uvloop
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    RejectConnection,
    Request,
    TextMessage,
)

from sipline.sip import Address, Message, StreamFramer
from sipline.sip import Request as SipRequest
from sipline.transport import (
    BadMessage,
    ListenSpec,
    TlsConfig,
    TransportConfig,
    TransportError,
    TransportLayer,
)

pytestmark = pytest.mark.integration

P = ParamSpec("P")
TIMEOUT = 5.0


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


HOSTS = [
    pytest.param("127.0.0.1", id="v4"),
    pytest.param(
        "::1",
        id="v6",
        marks=pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback (::1) here"),
    ),
]
ALL = ["udp", "tcp", "tls", "ws", "wss"]
STREAMS = ["tcp", "tls", "ws", "wss"]


LOOPS = ["asyncio", "uvloop"]  # `sipline serve` runs on uvloop when it is installed


def run_async(test: Callable[P, Coroutine[Any, Any, None]]) -> Callable[P, None]:
    """Run a coroutine test in a fresh loop (uvloop when the test has ``loop_name="uvloop"``),
    bounded by a timeout so a hung socket fails the test instead of hanging the run."""

    @functools.wraps(test)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        factory = uvloop.new_event_loop if kwargs.get("loop_name") == "uvloop" else None
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(asyncio.wait_for(test(*args, **kwargs), 20))

    return wrapper


def request(n: int = 1, body: bytes = b"", method: str = "OPTIONS") -> bytes:
    head = (
        f"{method} sip:bob@example.com SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP peer.invalid;branch=z9hG4bK-{n}\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:alice@example.com>;tag=a1\r\n"
        "To: <sip:bob@example.com>\r\n"
        f"Call-ID: call-{n}@peer\r\n"
        f"CSeq: {n} {method}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def response(n: int = 1) -> bytes:
    return (
        "SIP/2.0 200 OK\r\n"
        f"Via: SIP/2.0/UDP peer.invalid;branch=z9hG4bK-{n}\r\n"
        "From: <sip:alice@example.com>;tag=a1\r\n"
        "To: <sip:bob@example.com>;tag=b2\r\n"
        f"Call-ID: call-{n}@peer\r\n"
        f"CSeq: {n} OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


# -- the server side: a TransportLayer recording what it gets ----------------------------
@dataclass
class Server:
    layer: TransportLayer
    inbox: asyncio.Queue[tuple[Message | BadMessage, Address, Address]]
    traces: list[tuple[str, str, Address, Address, bytes]] = field(default_factory=list)

    @property
    def address(self) -> Address:
        return self.layer.listeners[0].local_address

    async def receive(self) -> tuple[Message | BadMessage, Address, Address]:
        return await asyncio.wait_for(self.inbox.get(), TIMEOUT)


@contextlib.asynccontextmanager
async def serve(transport: str, host: str, cert_dir: Path, **options: Any) -> AsyncIterator[Server]:
    inbox: asyncio.Queue[tuple[Message | BadMessage, Address, Address]] = asyncio.Queue()
    traces: list[tuple[str, str, Address, Address, bytes]] = []

    def on_message(message: Message | BadMessage, source: Address, local: Address) -> None:
        inbox.put_nowait((message, source, local))

    def sink(
        direction: str, name: str, local: Address, remote: Address, ts: float, data: bytes
    ) -> None:
        assert ts > 1_600_000_000  # wall clock
        traces.append((direction, name, local, remote, data))

    config = TransportConfig(
        listen=(ListenSpec(transport, host, 0),),
        tls=TlsConfig(data_dir=cert_dir, ca_file=cert_dir / "tls-cert.pem"),
        **options,
    )
    async with TransportLayer(config, on_message, trace=[sink]) as layer:
        yield Server(layer, inbox, traces)


@pytest.fixture(scope="module")
def cert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sipline.transport import ensure_self_signed

    path = tmp_path_factory.mktemp("tls")
    ensure_self_signed(path)
    return path


def client_ssl(cert_dir: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert_dir / "tls-cert.pem"))


# -- raw peers: what a phone does on each transport -----------------------------------------
class Peer:
    """A client of the server: sends raw bytes, receives whole SIP messages."""

    address: Address  # how the server sees us

    async def send(self, data: bytes) -> None:
        raise NotImplementedError

    async def send_raw(self, data: bytes) -> None:
        """Bytes as they go on the wire (streams: no WS framing added)."""
        await self.send(data)

    async def receive(self) -> bytes:
        raise NotImplementedError

    async def wait_closed(self) -> bool:
        """True when the server closed the connection within the timeout."""
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class UdpPeer(Peer, asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    @classmethod
    async def open(cls, server: Address) -> UdpPeer:
        loop = asyncio.get_running_loop()
        _, peer = await loop.create_datagram_endpoint(cls, remote_addr=(server.host, server.port))
        assert peer.transport is not None
        host, port = peer.transport.get_extra_info("sockname")[:2]
        peer.address = Address("udp", host, port)
        return peer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.queue.put_nowait(data)

    async def send(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.sendto(data)

    async def receive(self) -> bytes:
        return await asyncio.wait_for(self.queue.get(), TIMEOUT)

    async def wait_closed(self) -> bool:
        return False

    async def close(self) -> None:
        assert self.transport is not None
        self.transport.close()
        await asyncio.sleep(0)


class StreamPeer(Peer):
    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, kind: str
    ) -> None:
        self.reader, self.writer = reader, writer
        host, port = writer.get_extra_info("sockname")[:2]
        self.address = Address(kind, host, port)
        self.framer = StreamFramer()
        self.ready: list[bytes] = []

    @classmethod
    async def open(cls, server: Address, context: ssl.SSLContext | None) -> StreamPeer:
        reader, writer = await asyncio.open_connection(server.host, server.port, ssl=context)
        return cls(reader, writer, server.transport)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def read_chunk(self) -> bytes:
        return await asyncio.wait_for(self.reader.read(65536), TIMEOUT)

    async def receive(self) -> bytes:
        while not self.ready:
            chunk = await self.read_chunk()
            assert chunk, "connection closed while waiting for a message"
            self.ready += [bytes(m) for m in self.framer.feed(chunk)]
        return self.ready.pop(0)

    async def wait_closed(self) -> bool:
        try:
            while await self.read_chunk():
                pass
        except (ConnectionError, ssl.SSLError):
            return True
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await self.writer.wait_closed()


class WsPeer(StreamPeer):
    """A browser-like SIP-over-WebSocket client built on wsproto."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, kind: str
    ) -> None:
        super().__init__(reader, writer, kind)
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.text_frames = 0
        self.pongs = 0

    @classmethod
    async def connect(
        cls,
        server: Address,
        context: ssl.SSLContext | None,
        subprotocols: tuple[str, ...] = ("sip",),
    ) -> tuple[WsPeer, AcceptConnection | RejectConnection]:
        reader, writer = await asyncio.open_connection(server.host, server.port, ssl=context)
        peer = cls(reader, writer, server.transport)
        handshake = Request(host="localhost", target="/", subprotocols=list(subprotocols))
        await StreamPeer.send(peer, peer.ws.send(handshake))
        while True:
            chunk = await peer.read_chunk()
            assert chunk
            peer.ws.receive_data(chunk)
            for event in peer.ws.events():
                if isinstance(event, AcceptConnection | RejectConnection):
                    return peer, event

    async def send(self, data: bytes) -> None:
        await StreamPeer.send(self, self.ws.send(TextMessage(data.decode())))

    async def send_raw(self, data: bytes) -> None:
        await StreamPeer.send(self, data)

    async def receive(self) -> bytes:
        parts: list[bytes] = []
        while True:
            for event in self.ws.events():
                if isinstance(event, TextMessage | BytesMessage):
                    self.text_frames += isinstance(event, TextMessage)
                    data = event.data
                    parts.append(data.encode() if isinstance(data, str) else bytes(data))
                    if event.message_finished:
                        return b"".join(parts)
                elif isinstance(event, Pong):
                    self.pongs += 1
                elif isinstance(event, CloseConnection):
                    raise ConnectionError(f"closed by server: {event.code}")
            chunk = await self.read_chunk()
            assert chunk, "connection closed while waiting for a message"
            self.ws.receive_data(chunk)

    async def wait_closed(self) -> bool:
        try:
            while True:
                await self.receive()
        except (ConnectionError, ssl.SSLError, AssertionError):
            return True
        except TimeoutError:
            return False


async def open_peer(server: Server, cert_dir: Path) -> Peer:
    address = server.address
    context = client_ssl(cert_dir) if address.transport in ("tls", "wss") else None
    if address.transport == "udp":
        return await UdpPeer.open(address)
    if address.transport in ("ws", "wss"):
        peer, event = await WsPeer.connect(address, context)
        assert isinstance(event, AcceptConnection)
        assert event.subprotocol == "sip"
        return peer
    return await StreamPeer.open(address, context)


@contextlib.asynccontextmanager
async def peer_of(server: Server, cert_dir: Path) -> AsyncIterator[Peer]:
    peer = await open_peer(server, cert_dir)
    try:
        yield peer
    finally:
        await peer.close()


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(int(TIMEOUT / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached in time")


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


@run_async
async def test_ws_handshake_without_sip_subprotocol_is_rejected(cert_dir: Path) -> None:
    async with serve("ws", "127.0.0.1", cert_dir) as server:
        peer, event = await WsPeer.connect(server.address, None, subprotocols=("chat",))
        try:
            assert isinstance(event, RejectConnection)
            assert event.status_code == 400
            assert await peer.wait_closed()
        finally:
            await peer.close()


@run_async
async def test_ws_binary_frames_in_and_non_utf8_out(cert_dir: Path) -> None:
    async with serve("ws", "127.0.0.1", cert_dir) as server, peer_of(server, cert_dir) as peer:
        assert isinstance(peer, WsPeer)
        await peer.send_raw(peer.ws.send(BytesMessage(request(1))))
        assert bytes((await server.receive())[0]) == request(1)
        binary = request(2, body=b"\xff\xfe")
        await server.layer.send(binary, peer.address)
        assert await peer.receive() == binary
        await server.layer.send(response(1), peer.address)
        assert await peer.receive() == response(1)
        assert peer.text_frames == 1  # UTF-8 goes as text, the rest as binary (RFC 7118 §5.1)


@run_async
async def test_layer_chooses_listener_by_transport_and_family(cert_dir: Path) -> None:
    got: list[tuple[Address, Address]] = []
    specs = [ListenSpec("udp", "127.0.0.1", 0), ListenSpec("tcp", "127.0.0.1", 0)]
    if has_ipv6_loopback():
        specs.append(ListenSpec("udp", "::1", 0))
    config = TransportConfig(listen=tuple(specs))
    async with TransportLayer(
        config, lambda _m, source, local: got.append((source, local))
    ) as layer:
        udp4, tcp4 = (listener.local_address for listener in layer.listeners[:2])
        assert layer.listener_for(Address("udp", "192.0.2.1", 5060)).local_address == udp4
        assert layer.listener_for(Address("tcp", "192.0.2.1", 5060)).local_address == tcp4
        if has_ipv6_loopback():
            udp6 = layer.listeners[2].local_address
            assert layer.listener_for(Address("udp", "2001:db8::1", 5060)).local_address == udp6
        with pytest.raises(TransportError, match="no listener"):
            layer.listener_for(Address("tls", "192.0.2.1", 5061))
        with pytest.raises(TransportError, match="no listener"):
            layer.listener_for(
                Address("udp", "192.0.2.1", 5060), local=Address("udp", "10.9.9.9", 1)
            )
        with pytest.raises(TransportError, match="not an IP address"):
            await layer.send(b"x", Address("udp", "example.com", 5060))


@run_async
async def test_failing_callback_and_sink_do_not_break_the_listener(cert_dir: Path) -> None:
    calls: list[bytes] = []

    def on_message(message: Message | BadMessage, source: Address, local: Address) -> None:
        calls.append(bytes(message) if not isinstance(message, BadMessage) else b"")
        if len(calls) == 1:
            raise RuntimeError("bug in the layer above")

    def bad_sink(*args: object) -> None:
        raise OSError("disk full")

    config = TransportConfig(listen=(ListenSpec("tcp", "127.0.0.1", 0),))
    async with TransportLayer(config, on_message, trace=[bad_sink]) as layer:
        server = layer.listeners[0].local_address
        peer = await StreamPeer.open(server, None)
        try:
            await peer.send(request(1))
            await peer.send(request(2))
            await until(lambda: len(calls) == 2)
            await layer.send(response(2), peer.address)
            assert await peer.receive() == response(2)
        finally:
            await peer.close()


@pytest.mark.parametrize("transport", ["tls", "wss"])
@run_async
async def test_plaintext_on_a_tls_port_only_closes_that_connection(
    transport: str, cert_dir: Path
) -> None:
    async with serve(transport, "127.0.0.1", cert_dir) as server:
        plain = await StreamPeer.open(Address("tcp", "127.0.0.1", server.address.port), None)
        try:
            await plain.send(request(1))
            assert await plain.wait_closed()
        finally:
            await plain.close()
        async with peer_of(server, cert_dir) as peer:
            await peer.send(request(2))
            assert bytes((await server.receive())[0]) == request(2)
        assert server.inbox.empty()


@run_async
async def test_plain_http_request_on_a_ws_port_is_refused(cert_dir: Path) -> None:
    async with serve("ws", "127.0.0.1", cert_dir) as server:
        peer = await StreamPeer.open(server.address, None)
        try:
            await peer.send(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            answer = await peer.read_chunk()
            assert answer.startswith(b"HTTP/1.1 400 ")
            assert await peer.wait_closed()
        finally:
            await peer.close()
        assert server.layer.stats.framing_errors == 1


@run_async
async def test_closed_inbound_connection_is_forgotten(cert_dir: Path) -> None:
    async with serve("tcp", "127.0.0.1", cert_dir) as server:
        async with peer_of(server, cert_dir) as peer:
            await peer.send(request(1))
            _, source, _ = await server.receive()
        await until(lambda: server.layer.stats.connections_closed == 1)
        # no connection left: the layer dials the peer's (now closed) port instead
        with pytest.raises(TransportError, match="connect"):
            await server.layer.send(response(1), source)


@run_async
async def test_bug_in_a_stream_handler_drops_only_that_connection(
    cert_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from sipline.transport._stream import SipStreamConnection

    original = SipStreamConnection.receive

    def broken(self: SipStreamConnection, data: bytes) -> None:
        raise RuntimeError("bug")

    async with serve("tcp", "127.0.0.1", cert_dir) as server:
        monkeypatch.setattr(SipStreamConnection, "receive", broken)
        async with peer_of(server, cert_dir) as peer:
            await peer.send(request(1))
            assert await peer.wait_closed()
        assert "RuntimeError: bug" in caplog.text
        monkeypatch.setattr(SipStreamConnection, "receive", original)
        async with peer_of(server, cert_dir) as again:
            await again.send(request(2))
            assert bytes((await server.receive())[0]) == request(2)
