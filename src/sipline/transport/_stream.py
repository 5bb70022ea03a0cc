"""SIP over TCP and TLS (RFC 3261 §18.3): Content-Length framing, connection reuse.

Every connection, inbound or outbound, is kept in a table under the peer's address,
so responses and new requests to that peer go back over it (RFC 3261 §18.2.2,
RFC 5923 style reuse).  Connections idle for ``idle_timeout`` are closed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from typing import cast

from sipline.sip import Address, SipParseError, StreamFramer, parse_message

from ._base import Tap, TransportError, logger
from ._config import ListenSpec, TransportConfig
from ._sockets import bind_socket, canonical, is_ipv6, peer_address

_CLOSE_GRACE = 1.0  # seconds close() waits for connections to finish before aborting


class Connection(asyncio.Protocol):
    """One stream connection: registration, idle timer, lifecycle.  Subclasses frame."""

    def __init__(self, owner: StreamTransport) -> None:
        self.owner = owner
        self.transport: asyncio.Transport | None = None
        self.remote = Address(owner.kind, "", 0)
        self.local = owner.local_address
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._last_activity = 0.0
        self._idle_timer: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol --------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport = cast(asyncio.Transport, transport)
        self.remote = peer_address(self.owner.kind, transport.get_extra_info("peername"))
        self.local = peer_address(self.owner.kind, transport.get_extra_info("sockname"))
        self.touch()
        self.owner.connection_opened(self)

    def data_received(self, data: bytes) -> None:
        self.touch()
        try:
            self.receive(data)
        except TransportError:
            pass  # a reply to a connection that is already closing: nothing to do
        except Exception:
            # Our bug, not the peer's: log it, drop this connection, keep serving.
            logger.exception("%s connection from %s failed", self.owner.kind, self.remote)
            self.abort()

    def receive(self, data: bytes) -> None:
        """Handle bytes from the peer (subclasses frame them)."""
        raise NotImplementedError

    def connection_lost(self, exc: Exception | None) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        self.owner.connection_closed(self)
        if not self.closed.done():
            self.closed.set_result(None)

    # -- used by the owner and subclasses ------------------------------------------------
    @property
    def ready(self) -> bool:
        """Open and able to carry SIP messages (WS: handshake done)."""
        return self.transport is not None and not self.transport.is_closing()

    def touch(self) -> None:
        loop = asyncio.get_running_loop()
        self._last_activity = loop.time()
        if self._idle_timer is None:
            self._idle_timer = loop.call_later(self.owner.config.idle_timeout, self._check_idle)

    def _check_idle(self) -> None:
        loop = asyncio.get_running_loop()
        idle = loop.time() - self._last_activity
        remaining = self.owner.config.idle_timeout - idle
        if remaining > 0:
            self._idle_timer = loop.call_later(remaining, self._check_idle)
            return
        self._idle_timer = None
        self.owner.tap.stats.idle_closed += 1
        logger.info(
            "closing %s connection to %s: idle for %.0f s", self.owner.kind, self.remote, idle
        )
        self.close()

    def write(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            raise TransportError(f"connection to {self.remote} is closed")
        self.transport.write(data)
        self.touch()

    def send_message(self, data: bytes) -> None:
        self.write(data)
        self.owner.tap.stats.sent += 1
        self.owner.tap.trace("send", self.local, self.remote, data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def fail(self, reason: str) -> None:
        """The peer broke the stream: count, log and drop the connection."""
        self.owner.tap.stats.framing_errors += 1
        logger.info("closing %s connection from %s: %s", self.owner.kind, self.remote, reason)
        self.abort()


class SipStreamConnection(Connection):
    """SIP messages framed by Content-Length on a TCP or TLS byte stream."""

    def __init__(self, owner: StreamTransport) -> None:
        super().__init__(owner)
        self._framer = StreamFramer(owner.config.max_message_size)

    def receive(self, data: bytes) -> None:
        tap = self.owner.tap
        try:
            frames = self._framer.frames(data)
        except SipParseError as error:
            self.fail(str(error))
            return
        # RFC 5626 §3.5.1: answer each CRLFCRLF ping with a CRLF pong.
        pings = self._framer.take_pings()
        if pings:
            tap.stats.keepalives += pings
            self.write(b"\r\n" * pings)
        local = self.owner.local_address
        for frame in frames:
            tap.trace("recv", self.local, self.remote, frame)
            try:
                message = parse_message(frame)
            except SipParseError as error:
                # Framed correctly, so the stream goes on: answer 400 if we can.
                tap.bad_input(error, frame, self.remote, local)
                continue
            tap.stats.received += 1
            tap.deliver(message, self.remote, local)


class StreamTransport:
    """A TCP or TLS listener and the connections it owns (``kind`` "tcp" or "tls")."""

    kind = "tcp"

    def __init__(
        self,
        spec: ListenSpec,
        config: TransportConfig,
        tap: Tap,
        *,
        server_ssl: ssl.SSLContext | None = None,
        client_ssl: ssl.SSLContext | None = None,
    ) -> None:
        self.kind = spec.transport
        self.spec = spec
        self.config = config
        self.tap = tap
        self._server_ssl = server_ssl
        self._client_ssl = client_ssl
        self._server: asyncio.Server | None = None
        self._local = spec.address
        self._connections: dict[Address, Connection] = {}
        self._all: set[Connection] = set()
        self._connecting: dict[Address, asyncio.Future[Connection]] = {}

    async def start(self) -> None:
        sock = bind_socket(self.spec, socket.SOCK_STREAM)
        try:
            self._server = await asyncio.get_running_loop().create_server(
                self.make_connection, sock=sock, ssl=self._server_ssl, backlog=128
            )
        except BaseException:
            sock.close()
            raise
        self._local = peer_address(self.kind, sock.getsockname())

    @property
    def local_address(self) -> Address:
        return self._local

    @property
    def connections(self) -> list[Address]:
        """Peers with an open connection (for tests and the admin page)."""
        return list(self._connections)

    def make_connection(self) -> Connection:
        return SipStreamConnection(self)

    # -- connection table ----------------------------------------------------------------
    def connection_opened(self, connection: Connection) -> None:
        self.tap.stats.connections_opened += 1
        self._all.add(connection)
        self.register(connection)

    def register(self, connection: Connection) -> None:
        self._connections[connection.remote] = connection

    def connection_closed(self, connection: Connection) -> None:
        self.tap.stats.connections_closed += 1
        self._all.discard(connection)
        if self._connections.get(connection.remote) is connection:
            del self._connections[connection.remote]

    # -- sending ---------------------------------------------------------------------------
    async def send(self, data: bytes, destination: Address) -> None:
        destination = canonical(destination)
        connection = self._connections.get(destination)
        if connection is None or not connection.ready:
            connection = await self._connect_once(destination)
        connection.send_message(data)

    async def _connect_once(self, destination: Address) -> Connection:
        """Open one connection per destination even when several sends race for it."""
        pending = self._connecting.get(destination)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Connection] = asyncio.get_running_loop().create_future()
        self._connecting[destination] = future
        try:
            connection = await self.connect(destination)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark it retrieved: only concurrent waiters re-raise it
            raise
        else:
            future.set_result(connection)
            return connection
        finally:
            del self._connecting[destination]

    async def connect(self, destination: Address) -> Connection:
        """Open an outbound connection (RFC 3261 §18.1.1) from this listener's address."""
        if is_ipv6(destination.host) != (self.spec.family == socket.AF_INET6):
            raise TransportError(f"{self.kind} listener {self._local} cannot reach {destination}")
        # Bind outbound connections to the listener's address unless it is a wildcard.
        local_host = None if ipaddress.ip_address(self.spec.host).is_unspecified else self.spec.host
        loop = asyncio.get_running_loop()
        try:
            _, connection = await asyncio.wait_for(
                loop.create_connection(
                    self.make_connection,
                    destination.host,
                    destination.port,
                    ssl=self._client_ssl,
                    server_hostname=destination.host if self._client_ssl else None,
                    local_addr=(local_host, 0) if local_host else None,
                ),
                self.config.connect_timeout,
            )
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            raise TransportError(f"cannot connect to {destination}: {exc or 'timed out'}") from exc
        if not connection.ready:
            raise TransportError(f"connection to {destination} closed at once")
        return connection

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        connections = list(self._all)
        for connection in connections:
            connection.close()
        if connections:
            await asyncio.wait([c.closed for c in connections], timeout=_CLOSE_GRACE)
            for connection in connections:
                if not connection.closed.done():
                    connection.abort()
            await asyncio.gather(*(c.closed for c in connections))
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
