"""The set of listeners a server runs, with one inbound callback and one ``send``."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Sequence

from sipline.sip import Address

from ._base import MessageCallback, Tap, TraceSink, Transport, TransportError, TransportStats
from ._config import ListenSpec, TransportConfig
from ._sockets import canonical, is_ipv6
from ._stream import StreamTransport
from ._tls import client_context, server_context
from ._udp import UdpTransport
from ._ws import WsTransport


async def start_listener(spec: ListenSpec, config: TransportConfig, tap: Tap) -> Transport:
    """Open one listener of ``spec.transport`` (udp, tcp, tls, ws, wss)."""
    if spec.transport == "udp":
        return await UdpTransport.start(spec, config, tap)
    secure = spec.transport in ("tls", "wss")
    server_ssl = server_context(config.tls) if secure else None
    client_ssl = client_context(config.tls) if spec.transport == "tls" else None
    cls = WsTransport if spec.transport in ("ws", "wss") else StreamTransport
    listener = cls(spec, config, tap, server_ssl=server_ssl, client_ssl=client_ssl)
    await listener.start()
    return listener


class TransportLayer:
    """Owns the listeners of ``config.listen``; delivers every inbound message to
    ``on_message(message, source, local)`` and sends through the fitting listener.

    Use as ``async with TransportLayer(config, on_message) as layer: ...`` or call
    ``start()``/``close()``.
    """

    def __init__(
        self,
        config: TransportConfig,
        on_message: MessageCallback,
        *,
        trace: Sequence[TraceSink] | None = None,
    ) -> None:
        self.config = config
        self.stats = TransportStats()
        self._tap = Tap(on_message, trace, self.stats)
        self.listeners: list[Transport] = []

    async def start(self) -> None:
        try:
            for spec in self.config.listen:
                try:
                    listener = await start_listener(spec, self.config, self._tap)
                except OSError as error:
                    reason = (error.strerror or str(error)).lower()
                    hint = (
                        "; another program (another sipline?) has that port: pick another with --listen"
                        if error.errno == errno.EADDRINUSE
                        else ""
                    )
                    raise OSError(
                        error.errno, f"cannot listen on {spec}: {reason}{hint}"
                    ) from error
                self.listeners.append(listener)
        except BaseException:
            await self.close()
            raise

    async def __aenter__(self) -> TransportLayer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def listener_for(self, destination: Address, local: Address | None = None) -> Transport:
        """The listener to send to ``destination`` from: the one whose address is
        ``local`` when given, else the first of the same transport and IP family."""
        for listener in self.listeners:
            address = listener.local_address
            if local is not None:
                if address == local and address.transport == destination.transport:
                    return listener
            elif address.transport == destination.transport and is_ipv6(address.host) == is_ipv6(
                destination.host
            ):
                return listener
        wanted = local if local is not None else destination
        raise TransportError(f"no listener to send to {destination} from (wanted {wanted})")

    async def send(self, data: bytes, destination: Address, local: Address | None = None) -> None:
        """Send one message; raises ``TransportError`` if no listener fits or sending fails.

        On TCP/TLS/WS an open connection to ``destination`` is reused (inbound ones are
        registered under the peer's address); TCP/TLS open one when there is none.
        """
        destination = canonical(destination)
        try:
            await self.listener_for(destination, local).send(data, destination)
        except TransportError:
            self.stats.send_errors += 1
            raise

    async def close(self) -> None:
        listeners, self.listeners = self.listeners, []
        await asyncio.gather(*(listener.close() for listener in listeners))
