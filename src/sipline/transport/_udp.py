"""SIP over UDP (RFC 3261 §18): one datagram is one message."""

from __future__ import annotations

import asyncio
import socket
from typing import Any, cast

from sipline.sip import Address, SipParseError, parse_message

from ._base import Tap, TransportError, is_keepalive, logger
from ._config import ListenSpec, TransportConfig
from ._sockets import bind_socket, peer_address, sockaddr


class UdpTransport(asyncio.DatagramProtocol):
    """A UDP listener; start it with ``await UdpTransport.start(...)``."""

    def __init__(self, spec: ListenSpec, config: TransportConfig, tap: Tap) -> None:
        self._spec = spec
        self._config = config
        self._tap = tap
        self._transport: asyncio.DatagramTransport | None = None
        self._local = spec.address

    @classmethod
    async def start(cls, spec: ListenSpec, config: TransportConfig, tap: Tap) -> UdpTransport:
        sock = bind_socket(spec, socket.SOCK_DGRAM)
        loop = asyncio.get_running_loop()
        try:
            _, protocol = await loop.create_datagram_endpoint(
                lambda: cls(spec, config, tap), sock=sock
            )
        except BaseException:
            sock.close()
            raise
        return protocol

    @property
    def local_address(self) -> Address:
        return self._local

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's and asyncio's datagram transports do not subclass DatagramTransport.
        self._transport = transport = cast(asyncio.DatagramTransport, transport)
        host, port = transport.get_extra_info("sockname")[:2]
        self._local = Address("udp", host, port)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        source = peer_address("udp", addr)
        self._tap.trace("recv", self._local, source, data)
        if is_keepalive(data):
            self._tap.stats.keepalives += 1
            return
        if len(data) > self._config.max_message_size:
            self._tap.stats.dropped += 1
            logger.info("dropped %d-byte datagram from %s: over size limit", len(data), source)
            return
        try:
            message = parse_message(data)
        except SipParseError as error:
            self._tap.bad_input(error, data, source, self._local)
            return
        self._tap.stats.received += 1
        self._tap.deliver(message, source, self._local)

    def error_received(self, exc: Exception) -> None:
        # An ICMP error for an earlier datagram (e.g. port unreachable): nothing to answer.
        logger.info("udp %s: %s", self._local, exc)

    async def send(self, data: bytes, destination: Address) -> None:
        self.send_nowait(data, destination)

    def send_nowait(self, data: bytes, destination: Address) -> None:
        """Send one datagram now (UDP never blocks on a peer): the endpoint's fast path."""
        if self._transport is None or self._transport.is_closing():
            raise TransportError(f"udp listener {self._local} is closed")
        self._transport.sendto(data, sockaddr(destination))
        self._tap.stats.sent += 1
        self._tap.trace("send", self._local, destination, data)

    async def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
