"""Transport addresses: where a message came from or goes to."""

from __future__ import annotations

from dataclasses import dataclass

#: Transport names used everywhere in sipline, lower case as in URI parameters.
TRANSPORTS = ("udp", "tcp", "tls", "ws", "wss")
RELIABLE_TRANSPORTS = frozenset({"tcp", "tls", "ws", "wss"})
#: Default ports: RFC 3261 §19.1.2 for UDP/TCP/TLS; RFC 7118 §7 lets SIP over
#: WebSocket use the HTTP(S) ports.
DEFAULT_PORTS = {"udp": 5060, "tcp": 5060, "tls": 5061, "ws": 80, "wss": 443}


@dataclass(frozen=True, slots=True)
class Address:
    """A transport endpoint: ``udp``/``tcp``/``tls``/``ws``/``wss``, a host and a port.

    ``host`` is an IP address literal (IPv6 without brackets) once resolved, or a
    name before resolution.  For stream transports the remote ``Address`` also names
    the connection: the transport layer reuses an open connection to it.
    """

    transport: str
    host: str
    port: int

    @property
    def reliable(self) -> bool:
        return self.transport in RELIABLE_TRANSPORTS

    @property
    def hostport(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.transport}:{self.hostport}"
