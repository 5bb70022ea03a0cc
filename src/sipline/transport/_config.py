"""Typed configuration of the transport edge: listener specs, TLS, limits.

Built once from the config file or the command line and handed down by
constructors (STYLE.md convention 11); nothing here is global.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from pathlib import Path

from sipline.sip import DEFAULT_PORTS, Address

_SPEC_FORM = (
    "expected TRANSPORT:HOST[:PORT] with TRANSPORT one of udp, tcp, tls, ws, wss and HOST an "
    "IPv4 address or a bracketed IPv6 address, e.g. udp:127.0.0.1:5060 or tcp:[::]:5060"
)


@dataclass(frozen=True, slots=True)
class ListenSpec:
    """One listener to open: transport, local IP literal (IPv6 unbracketed), port (0 = any)."""

    transport: str
    host: str
    port: int

    @property
    def family(self) -> socket.AddressFamily:
        return socket.AF_INET6 if ":" in self.host else socket.AF_INET

    @property
    def address(self) -> Address:
        return Address(self.transport, self.host, self.port)

    def __str__(self) -> str:
        return str(self.address)


def parse_listen_spec(text: str) -> ListenSpec:
    """Parse ``udp:127.0.0.1:5060``, ``tcp:[::]:5060``, ``wss:0.0.0.0`` ...

    Raises ``ValueError`` with one line saying what is wrong and the expected form.
    """
    transport, sep, rest = text.strip().partition(":")
    transport = transport.lower()
    if not sep or transport not in DEFAULT_PORTS:
        raise ValueError(f"bad listener {text!r}: unknown transport {transport!r}; {_SPEC_FORM}")
    if rest.startswith("["):
        host, bracket, tail = rest[1:].partition("]")
        if not bracket or (tail and not tail.startswith(":")):
            raise ValueError(f"bad listener {text!r}: unclosed IPv6 bracket; {_SPEC_FORM}")
        has_port, port_text = bool(tail), tail[1:]
        if not _is_ip(host, version=6):
            raise ValueError(
                f"bad listener {text!r}: {host!r} is not an IPv6 address; {_SPEC_FORM}"
            )
    else:
        host, colon, port_text = rest.partition(":")
        has_port = bool(colon)
        if not _is_ip(host, version=4):
            raise ValueError(
                f"bad listener {text!r}: {host!r} is not an IPv4 address; {_SPEC_FORM}"
            )
    port = _parse_port(text, port_text) if has_port else DEFAULT_PORTS[transport]
    return ListenSpec(transport, ipaddress.ip_address(host).compressed, port)


def _is_ip(host: str, *, version: int) -> bool:
    try:
        return ipaddress.ip_address(host).version == version
    except ValueError:
        return False


def _parse_port(text: str, port_text: str) -> int:
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"bad listener {text!r}: port {port_text!r} is not 0..65535; {_SPEC_FORM}")
    return int(port_text)


@dataclass(frozen=True, slots=True)
class TlsConfig:
    """Certificates for ``tls``/``wss`` listeners and outbound TLS connections.

    With ``cert_file``/``key_file`` unset, a self-signed certificate is generated on
    first start into ``data_dir`` (``tls-cert.pem``, ``tls-key.pem``) and reused later.
    ``verify_server`` checks the certificate of servers we connect to (against
    ``ca_file`` or the system store); turn it off only for tests and labs.
    """

    cert_file: Path | None = None
    key_file: Path | None = None
    data_dir: Path | None = None
    ca_file: Path | None = None
    verify_server: bool = True


@dataclass(frozen=True, slots=True)
class TransportConfig:
    """Limits and timeouts of the transport layer.

    ``idle_timeout``: a TCP/TLS/WS connection, inbound or outbound, with no traffic
    either way for this many seconds is closed.  600 s is well above the 120 s CRLF
    keep-alive interval phones use (RFC 5626 §4.4.1), so live flows stay open.
    ``max_message_size`` bounds one SIP message on every transport (a stream that
    exceeds it is closed; such a datagram is dropped).
    """

    listen: tuple[ListenSpec, ...] = ()
    max_message_size: int = 65535
    idle_timeout: float = 600.0
    connect_timeout: float = 10.0
    tls: TlsConfig = field(default_factory=TlsConfig)
