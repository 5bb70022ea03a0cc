"""HEPv3 (Homer Encapsulation Protocol, version 3) over UDP to a capture server.

A HEP3 packet is ``"HEP3"``, its total length (16 bits), then chunks; each chunk is a
vendor id (0 = generic), a type, its length including this 6-byte chunk header, and
the value.  The generic chunk types used here:

====  ===========================  ==========================
type  meaning                      value
====  ===========================  ==========================
1     IP protocol family           uint8: 2 IPv4, 10 IPv6
2     IP protocol id               uint8: 17 UDP, 6 TCP
3/4   IPv4 source / destination    4 bytes
5/6   IPv6 source / destination    16 bytes
7/8   source / destination port    uint16
9/10  time, seconds / microseconds uint32 each
11    protocol type                uint8: 1 = SIP
12    capture agent id             uint32
15    captured payload             the SIP message
====  ===========================  ==========================

All integers are in network byte order.  Messages on TCP, TLS, WS and WSS are sent as
protocol 6 (TCP): HEP has no code for TLS or WebSocket, and the payload is the SIP text.
"""

from __future__ import annotations

import logging
import socket
import struct

from sipline.sip import Address

from ._pcap import _ip_bytes

__all__ = ["HepSender", "encode_hep3", "parse_host_port"]

logger = logging.getLogger("sipline.trace")

_CHUNK = struct.Struct("!HHH")
_MAX_PACKET = 65507  # one UDP datagram over IPv4


def _chunk(chunk_type: int, value: bytes) -> bytes:
    return _CHUNK.pack(0, chunk_type, 6 + len(value)) + value


def encode_hep3(
    direction: str,
    transport: str,
    local: Address,
    remote: Address,
    timestamp: float,
    data: bytes,
    *,
    agent_id: int = 0,
) -> bytes:
    """One HEP3 packet for one SIP message (source and destination follow ``direction``);
    ``ValueError`` when it does not fit the 16-bit length fields."""
    if len(data) > _MAX_PACKET - 200:
        raise ValueError(f"a {len(data)}-byte message does not fit in one HEP packet")
    source, destination = (local, remote) if direction == "send" else (remote, local)
    version_s, src = _ip_bytes(source.host)
    version_d, dst = _ip_bytes(destination.host)
    if version_s == version_d == 4:
        family, addresses = 2, _chunk(3, src) + _chunk(4, dst)
    else:
        src = src if len(src) == 16 else b"\x00" * 10 + b"\xff\xff" + src
        dst = dst if len(dst) == 16 else b"\x00" * 10 + b"\xff\xff" + dst
        family, addresses = 10, _chunk(5, src) + _chunk(6, dst)
    micros = round(timestamp * 1_000_000)
    seconds, micros = divmod(micros, 1_000_000)
    chunks = b"".join(
        (
            _chunk(1, bytes((family,))),
            _chunk(2, bytes((17 if transport == "udp" else 6,))),
            addresses,
            _chunk(7, source.port.to_bytes(2, "big")),
            _chunk(8, destination.port.to_bytes(2, "big")),
            _chunk(9, seconds.to_bytes(4, "big")),
            _chunk(10, micros.to_bytes(4, "big")),
            _chunk(11, b"\x01"),
            _chunk(12, (agent_id & 0xFFFFFFFF).to_bytes(4, "big")),
            _chunk(15, data),
        )
    )
    return b"HEP3" + (6 + len(chunks)).to_bytes(2, "big") + chunks


def parse_host_port(text: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port``; ``ValueError`` with one line for people."""
    host, colon, port = text.strip().rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"HEP collector {text!r}: expected HOST:PORT, e.g. 127.0.0.1:9060")
    return host.strip("[]"), int(port)


class HepSender:
    """Sends each message as one HEP3 datagram; errors are counted and logged once."""

    def __init__(self, collector: str, *, agent_id: int = 0) -> None:
        host, port = parse_host_port(collector)
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        if not infos:
            raise ValueError(f"HEP collector {collector!r}: the name does not resolve")
        family, kind, proto, _, address = infos[0]
        self.collector = address
        self.agent_id = agent_id
        self.errors = 0
        self.sent = 0
        self._logged = False
        self._socket = socket.socket(family, kind, proto)
        self._socket.setblocking(False)

    def write(
        self,
        direction: str,
        transport: str,
        local: Address,
        remote: Address,
        timestamp: float,
        data: bytes,
    ) -> None:
        try:
            packet = encode_hep3(
                direction, transport, local, remote, timestamp, data, agent_id=self.agent_id
            )
        except ValueError as error:
            self._failed(str(error))
            return
        try:
            self._socket.sendto(packet, self.collector)
        except OSError as error:
            self._failed(str(error.strerror or error))
        else:
            self.sent += 1

    def _failed(self, reason: str) -> None:
        self.errors += 1
        if not self._logged:
            self._logged = True
            logger.warning(
                "HEP collector %s: cannot send (%s); messages are dropped and counted, "
                "this is logged once",
                self.collector,
                reason,
            )

    def flush(self) -> None:
        """Datagrams are sent at once; nothing to flush."""

    def close(self) -> None:
        self._socket.close()
