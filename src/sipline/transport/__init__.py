"""sipline.transport: the asyncio edge that moves SIP messages over UDP, TCP, TLS and
WebSocket (DESIGN.md "Edges are thin"; STYLE.md conventions 9-11).

Typical use (what ``sipline serve`` does)::

    config = TransportConfig(listen=(parse_listen_spec("udp:0.0.0.0:5060"),))
    async with TransportLayer(config, on_message, trace=[sink]) as layer:
        await layer.send(bytes(response), source, local)
"""

from sipline.sip import DEFAULT_PORTS

from ._base import (
    BadMessage,
    Direction,
    MessageCallback,
    TraceSink,
    Transport,
    TransportError,
    TransportStats,
)
from ._config import ListenSpec, TlsConfig, TransportConfig, parse_listen_spec
from ._dns import DnsResolver, numeric_target, resolve_targets
from ._layer import TransportLayer, start_listener
from ._loop import use_uvloop
from ._stream import StreamTransport
from ._tls import ensure_self_signed
from ._udp import UdpTransport
from ._ws import WsTransport

__all__ = [
    "DEFAULT_PORTS",
    "BadMessage",
    "Direction",
    "DnsResolver",
    "ListenSpec",
    "MessageCallback",
    "StreamTransport",
    "TlsConfig",
    "TraceSink",
    "Transport",
    "TransportConfig",
    "TransportError",
    "TransportLayer",
    "TransportStats",
    "UdpTransport",
    "WsTransport",
    "ensure_self_signed",
    "numeric_target",
    "parse_listen_spec",
    "resolve_targets",
    "start_listener",
    "use_uvloop",
]
