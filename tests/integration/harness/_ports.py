"""Free loopback ports and "is something bound there" checks (IPv4 and IPv6 loopback only)."""

from __future__ import annotations

import socket
import threading
import time

__all__ = ["free_port", "free_ports", "port_is_bound", "wait_bound"]

_LOCK = threading.Lock()
_HANDED_OUT: set[int] = set()  # never hand the same port out twice in one test session


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _bindable(port: int, host: str) -> bool:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(_family(host), kind) as s:
            try:
                s.bind((host, port))
            except OSError:
                return False
    return True


def free_port(host: str = "127.0.0.1", *, span: int = 1) -> int:
    """A port free on `host` for both UDP and TCP (and the `span - 1` ports after it).

    The kernel picks it (bind to port 0), so it comes from the ephemeral range; a port is
    handed out at most once per process, so two fixtures never race for the same one.
    `span=2` is for baresip, which also binds TLS on the SIP port + 1.
    """
    for _ in range(200):
        with socket.socket(_family(host), socket.SOCK_DGRAM) as s:
            s.bind((host, 0))
            port = int(s.getsockname()[1])
        ports = range(port, port + span)
        if port + span > 65535:
            continue
        with _LOCK:
            if any(p in _HANDED_OUT for p in ports):
                continue
            if all(_bindable(p, host) for p in ports):
                _HANDED_OUT.update(ports)
                return port
    raise RuntimeError(f"no free UDP+TCP port (span {span}) on {host} after 200 tries")


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct free ports (each free for UDP and TCP)."""
    return [free_port(host) for _ in range(count)]


def _proc_table(transport: str, host: str) -> str:
    six = "6" if ":" in host else ""
    return f"/proc/net/{'udp' if transport == 'udp' else 'tcp'}{six}"


def port_is_bound(port: int, transport: str = "udp", host: str = "127.0.0.1") -> bool:
    """True when some socket is bound to `port` (UDP) or listens on it (TCP), per /proc/net."""
    try:
        with open(_proc_table(transport, host), encoding="ascii") as f:
            rows = f.read().splitlines()[1:]
    except OSError:
        return False
    for row in rows:
        fields = row.split()
        if len(fields) < 4:
            continue
        local_port = int(fields[1].rsplit(":", 1)[1], 16)
        # TCP state 0A is LISTEN; a UDP socket is "bound" in any state.
        if local_port == port and (transport == "udp" or fields[3] == "0A"):
            return True
    return False


def wait_bound(
    port: int, transport: str = "udp", host: str = "127.0.0.1", timeout: float = 10.0
) -> bool:
    """Poll until `port_is_bound`; False after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_is_bound(port, transport, host):
            return True
        time.sleep(0.02)
    return False
