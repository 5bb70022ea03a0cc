"""SIP over WebSocket (RFC 7118), server side, with wsproto.

Browsers and WebRTC phones connect to us; we never open WS connections, only reuse
the ones they opened (RFC 7118 §5: the client opens the connection).  Each text or
binary WebSocket message carries exactly one SIP message (§5.3), so it is parsed
like a datagram: a bad one is answered or dropped, the connection stays.
"""

from __future__ import annotations

from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.utilities import RemoteProtocolError as WsProtocolError

from sipline.sip import Address, SipParseError, parse_message

from ._base import TransportError, is_keepalive
from ._stream import Connection, StreamTransport

SUBPROTOCOL = "sip"  # RFC 7118 §4.1: the "sip" WebSocket subprotocol
_MESSAGE_TOO_BIG = 1009  # RFC 6455 §7.4.1


class WsConnection(Connection):
    """One WebSocket connection carrying SIP; registered once the handshake is done."""

    def __init__(self, owner: StreamTransport) -> None:
        super().__init__(owner)
        self._ws = WSConnection(ConnectionType.SERVER)
        self._message = bytearray()
        self._open = False

    @property
    def ready(self) -> bool:
        return self._open and super().ready

    def receive(self, data: bytes) -> None:
        try:
            self._ws.receive_data(data)
            for event in self._ws.events():
                if self.transport is None or self.transport.is_closing():
                    break  # closed by an earlier event of this read
                self._handle(event)
        except WsProtocolError as error:
            hint = error.event_hint
            if isinstance(hint, RejectConnection) and self._ws.state is ConnectionState.CONNECTING:
                self.write(self._ws.send(hint))
            self.fail(f"WebSocket protocol error: {error}")

    def _handle(self, event: Event) -> None:
        if isinstance(event, Request):
            self._accept(event)
        elif isinstance(event, TextMessage | BytesMessage):
            self._message_part(event)
        elif isinstance(event, Ping):
            self.write(self._ws.send(event.response()))
        elif isinstance(event, CloseConnection):
            if self._ws.state is ConnectionState.REMOTE_CLOSING:
                self.write(self._ws.send(event.response()))
            self.close()

    def _accept(self, request: Request) -> None:
        if SUBPROTOCOL not in request.subprotocols:
            # RFC 7118 §4.1: the client must offer "sip"; anything else is not for us.
            self.write(self._ws.send(RejectConnection(status_code=400)))
            self.fail(f"WebSocket handshake without subprotocol {SUBPROTOCOL!r}")
            return
        self.write(self._ws.send(AcceptConnection(subprotocol=SUBPROTOCOL)))
        self._open = True
        self.owner.register(self)

    def _message_part(self, event: TextMessage | BytesMessage) -> None:
        data = event.data
        self._message += data.encode() if isinstance(data, str) else data
        if len(self._message) > self.owner.config.max_message_size:
            self._message.clear()
            if self._ws.state is ConnectionState.OPEN:
                self.write(self._ws.send(CloseConnection(_MESSAGE_TOO_BIG, "message too big")))
            self.fail("WebSocket message over the size limit")
            return
        if event.message_finished:
            raw = bytes(self._message)
            self._message.clear()
            self._deliver(raw)

    def _deliver(self, raw: bytes) -> None:
        tap = self.owner.tap
        if is_keepalive(raw):
            # SIP.js and others ping with a "\r\n\r\n" frame and expect "\r\n" back
            # (RFC 5626 §3.5.1 carried over WebSocket).
            tap.stats.keepalives += 1
            if raw.startswith(b"\r\n\r\n"):
                self.write(self._ws.send(TextMessage("\r\n")))
            return
        tap.trace("recv", self.local, self.remote, raw)
        try:
            message = parse_message(raw)
        except SipParseError as error:
            tap.bad_input(error, raw, self.remote, self.owner.local_address)
            return
        tap.stats.received += 1
        tap.deliver(message, self.remote, self.owner.local_address)

    def send_message(self, data: bytes) -> None:
        # RFC 7118 §5.1: text frames for UTF-8 messages, binary frames otherwise.
        try:
            event: Event = TextMessage(data.decode())
        except UnicodeDecodeError:
            event = BytesMessage(data)
        self.write(self._ws.send(event))
        self.owner.tap.stats.sent += 1
        self.owner.tap.trace("send", self.local, self.remote, data)


class WsTransport(StreamTransport):
    """A ``ws`` or ``wss`` listener (wss when a server TLS context is given)."""

    def make_connection(self) -> Connection:
        return WsConnection(self)

    def register(self, connection: Connection) -> None:
        if connection.ready:  # WS connections count once the handshake is done
            super().register(connection)

    async def connect(self, destination: Address) -> Connection:
        raise TransportError(
            f"no open WebSocket connection to {destination}; WS clients connect to us (RFC 7118)"
        )
