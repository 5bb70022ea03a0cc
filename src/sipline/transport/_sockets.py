"""Socket helpers shared by the transports: binding, address conversion."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

from sipline.sip import Address

from ._base import TransportError
from ._config import ListenSpec


def bind_socket(spec: ListenSpec, kind: socket.SocketKind) -> socket.socket:
    """A bound socket for ``spec``; IPv6 sockets are IPv6-only, so ``[::]`` and
    ``0.0.0.0`` listeners can coexist on the same port."""
    sock = socket.socket(spec.family, kind)
    try:
        if spec.family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        else:
            _grow_buffers(sock)
        sock.bind((spec.host, spec.port))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def peer_address(transport: str, sockname: Any) -> Address:
    """``Address`` for a socket address tuple (IPv4 2-tuple or IPv6 4-tuple)."""
    return Address(transport, str(sockname[0]), int(sockname[1]))


#: UDP socket buffers: a burst of requests (or of retransmissions) must not be
#: dropped by the kernel while the loop is busy (PEERS.md: the 64 KiB default
#: halves the rate a server sustains).
UDP_BUFFER_BYTES = 4 * 1024 * 1024


def _grow_buffers(sock: socket.socket) -> None:
    for option, forced in (
        (socket.SO_RCVBUF, getattr(socket, "SO_RCVBUFFORCE", None)),
        (socket.SO_SNDBUF, getattr(socket, "SO_SNDBUFFORCE", None)),
    ):
        try:
            # Root may go past net.core.rmem_max/wmem_max; others get what the OS allows.
            sock.setsockopt(
                socket.SOL_SOCKET, forced if forced is not None else option, UDP_BUFFER_BYTES
            )
        except OSError:
            try:
                sock.setsockopt(socket.SOL_SOCKET, option, UDP_BUFFER_BYTES)
            except OSError:
                pass


# Host text -> compressed IP literal; sends happen per message, hosts repeat.
_CANONICAL_HOSTS: dict[str, str] = {}
_CANONICAL_LIMIT = 65536


def canonical(address: Address) -> Address:
    """The same address with the IP literal in compressed form (the key of the
    connection table); raises ``TransportError`` for a host name (resolve first)."""
    host = _CANONICAL_HOSTS.get(address.host)
    if host is None:
        try:
            host = ipaddress.ip_address(address.host.strip("[]")).compressed
        except ValueError:
            raise TransportError(
                f"{address}: host is not an IP address; resolve it first"
            ) from None
        if len(_CANONICAL_HOSTS) >= _CANONICAL_LIMIT:
            _CANONICAL_HOSTS.clear()
        _CANONICAL_HOSTS[address.host] = host
    if host == address.host:
        return address
    return Address(address.transport, host, address.port)


def is_ipv6(host: str) -> bool:
    return ":" in host


def sockaddr(address: Address) -> tuple[str, int]:
    return canonical(address).host, address.port
