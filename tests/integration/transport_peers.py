"""Helpers for the transport conformance tests: a recording server, raw peers per
transport (sockets, ssl, a wsproto client), and an asyncio runner with a timeout."""

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
    Pong,
    RejectConnection,
    Request,
    TextMessage,
)

from sipline.sip import Address, Message, StreamFramer
from sipline.transport import (
    BadMessage,
    ListenSpec,
    TlsConfig,
    TransportConfig,
    TransportLayer,
)

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
