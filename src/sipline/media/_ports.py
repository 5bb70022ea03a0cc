"""RTP port pairs from a configured range (``rtp_ports = "16384-32767"``)."""

from __future__ import annotations

import socket

__all__ = ["PortAllocator", "PortsExhausted", "bind_pair"]


class PortsExhausted(Exception):
    """Every pair of the range is in use (or held by other programs)."""


class PortAllocator:
    """Hands out even RTP ports (RTCP on the odd one above, RFC 3550 section 11) from
    a range, round robin so a just-freed port is not reused at once (late packets of
    the old call would land in the new one).

    ``PortAllocator("16384-32767")`` or ``PortAllocator((16384, 32767))``."""

    def __init__(self, ports: str | tuple[int, int]) -> None:
        if isinstance(ports, str):
            low_text, dash, high_text = ports.partition("-")
            if not dash or not low_text.strip().isdigit() or not high_text.strip().isdigit():
                raise ValueError(f"rtp_ports {ports!r}: write it as LOW-HIGH, e.g. 16384-32767")
            ports = (int(low_text), int(high_text))
        low, high = ports
        low += low % 2
        if not 1024 <= low < high <= 65535 or high - low < 1:
            raise ValueError(f"rtp_ports {low}-{high}: need 1024 <= LOW < HIGH <= 65535")
        self.low = low
        self.high = high if high % 2 else high - 1  # the last pair is (high-1, high)
        self._next = low
        self._in_use: set[int] = set()

    @property
    def capacity(self) -> int:
        return (self.high - self.low + 1) // 2

    @property
    def in_use(self) -> int:
        return len(self._in_use)

    def allocate(self) -> int:
        """An even port not handed out yet; raises ``PortsExhausted``."""
        for _ in range(self.capacity):
            port = self._next
            self._next = port + 2 if port + 2 < self.high else self.low
            if port not in self._in_use:
                self._in_use.add(port)
                return port
        raise PortsExhausted(f"all {self.capacity} RTP port pairs {self.low}-{self.high} in use")

    def release(self, port: int) -> None:
        self._in_use.discard(port)


def bind_pair(
    allocator: PortAllocator, address: str, *, attempts: int = 64
) -> tuple[int, socket.socket, socket.socket]:
    """Bind UDP sockets on an allocated (even, even + 1) pair at ``address``, trying the
    next pair when another program holds one of the two."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    for _ in range(attempts):
        port = allocator.allocate()
        rtp = socket.socket(family, socket.SOCK_DGRAM)
        rtcp = socket.socket(family, socket.SOCK_DGRAM)
        try:
            rtp.bind((address, port))
            rtcp.bind((address, port + 1))
        except OSError:
            rtp.close()
            rtcp.close()
            allocator.release(port)  # round robin: not tried again before the others
            continue
        for sock in (rtp, rtcp):
            sock.setblocking(False)
        return port, rtp, rtcp
    raise PortsExhausted(f"no free RTP port pair at {address} after {attempts} attempts")
