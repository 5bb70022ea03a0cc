"""Classic pcap of every SIP message, with synthesized Ethernet / IPv4 or IPv6 headers.

UDP messages become UDP datagrams.  Messages on stream transports (TCP, TLS, WS, WSS)
become TCP segments (flags PSH+ACK) between the real addresses and ports, with sequence
and acknowledgement numbers kept per connection and per direction, so that Wireshark's
and sngrep's TCP reassembly see one clean byte stream each way and cut it into SIP
messages by Content-Length (RFC 3261 section 18.3).  Writing them as UDP instead would
lose which messages shared a connection and make Wireshark flag the ports.  TLS and
WebSocket messages are written as the SIP text they carried (decrypted, unframed).
Checked with tshark 4.0: UDP, TCP and TLS (port 5061) messages dissect as SIP;
WebSocket messages on an HTTP port (80, 8080, 443) show as TCP data, so use "Decode
As... SIP" on that port.  sngrep parses SIP over UDP and reassembled TCP from pcap
files (not checked here: sngrep is not installed).

Checksums (IPv4 header, UDP, TCP) are real, so no tool flags the packets.
"""

from __future__ import annotations

import ipaddress
import struct
from functools import lru_cache
from pathlib import Path

from sipline.sip import Address

from ._files import FileTraceWriter, RotatingFile

__all__ = ["PCAP_HEADER", "PcapPacketBuilder", "PcapWriter"]

_SNAPLEN = 262144
_LINKTYPE_ETHERNET = 1
#: Global header, little-endian, microsecond timestamps, version 2.4.
PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, _SNAPLEN, _LINKTYPE_ETHERNET)
_RECORD = struct.Struct("<IIII")
_LOCAL_MAC = b"\x02\x00\x00\x00\x00\x01"  # locally administered, unicast
_REMOTE_MAC = b"\x02\x00\x00\x00\x00\x02"
_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_IPV6 = struct.Struct("!IHBB16s16s")
_UDP = struct.Struct("!HHHH")
_TCP = struct.Struct("!HHIIBBHHH")
_PROTO_TCP = 6
_PROTO_UDP = 17
_TCP_PSH_ACK = 0x18
_MAX_TCP_SEGMENT = 65000  # keeps the IPv4 total length within 16 bits
_MAX_UDP_PAYLOAD = 65507
_MAX_CONNECTIONS = 10000


@lru_cache(maxsize=4096)
def _ip_bytes(host: str) -> tuple[int, bytes]:
    """(version, packed address); names and unknown hosts become 0.0.0.0."""
    try:
        address = ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return 4, bytes(4)
    return address.version, address.packed


def _checksum(data: bytes) -> int:
    """RFC 1071 Internet checksum: ones' complement of the ones' complement sum of
    16-bit words; 2**16 = 1 (mod 0xFFFF) turns the sum into one big-int remainder."""
    if len(data) % 2:
        data += b"\x00"
    total = int.from_bytes(data, "big") % 0xFFFF
    if total == 0 and any(data):
        total = 0xFFFF
    return ~total & 0xFFFF


class PcapPacketBuilder:
    """Ethernet frames for trace records; keeps the TCP sequence numbers."""

    def __init__(self) -> None:
        # (transport, local, remote) -> [next local seq, next remote seq]
        self._connections: dict[tuple[str, Address, Address], list[int]] = {}
        self._ip_id = 0

    def frames(
        self, direction: str, transport: str, local: Address, remote: Address, data: bytes
    ) -> list[bytes]:
        """The frames carrying ``data`` (one, or several TCP segments for a long message)."""
        sent = direction == "send"
        source, destination = (local, remote) if sent else (remote, local)
        version_s, src = _ip_bytes(source.host)
        version_d, dst = _ip_bytes(destination.host)
        if version_s != version_d:  # never on the wire; keep the frame readable
            src, dst = _as_ipv6(src), _as_ipv6(dst)
        if transport == "udp":
            if len(data) > _MAX_UDP_PAYLOAD:
                return []
            udp = _UDP.pack(source.port, destination.port, 8 + len(data), 0) + data
            return [self._ip_frame(src, dst, _PROTO_UDP, udp, sent)]
        return self._tcp_frames(transport, local, remote, sent, src, dst, data)

    def _tcp_frames(
        self,
        transport: str,
        local: Address,
        remote: Address,
        sent: bool,
        src: bytes,
        dst: bytes,
        data: bytes,
    ) -> list[bytes]:
        key = (transport, local, remote)
        sequences = self._connections.pop(key, None) or [1, 1]
        self._connections[key] = sequences  # most recently used last
        if len(self._connections) > _MAX_CONNECTIONS:
            del self._connections[next(iter(self._connections))]
        mine, theirs = (0, 1) if sent else (1, 0)
        sport, dport = (local.port, remote.port) if sent else (remote.port, local.port)
        frames = []
        for start in range(0, max(len(data), 1), _MAX_TCP_SEGMENT):
            chunk = data[start : start + _MAX_TCP_SEGMENT]
            seq, ack = sequences[mine], sequences[theirs]
            header = _TCP.pack(sport, dport, seq, ack, 5 << 4, _TCP_PSH_ACK, 65535, 0, 0)
            segment = header + chunk
            frames.append(self._ip_frame(src, dst, _PROTO_TCP, segment, sent))
            sequences[mine] = (seq + len(chunk)) & 0xFFFFFFFF
        return frames

    def _ip_frame(self, src: bytes, dst: bytes, protocol: int, segment: bytes, sent: bool) -> bytes:
        if len(src) == 4:
            pseudo = src + dst + struct.pack("!BBH", 0, protocol, len(segment))
            self._ip_id = (self._ip_id + 1) & 0xFFFF
            ip = _IPV4.pack(
                0x45, 0, 20 + len(segment), self._ip_id, 0x4000, 64, protocol, 0, src, dst
            )
            ip = ip[:10] + _checksum(ip).to_bytes(2, "big") + ip[12:]
            ethertype = b"\x08\x00"
        else:
            pseudo = src + dst + struct.pack("!IxxxB", len(segment), protocol)
            ip = _IPV6.pack(6 << 28, len(segment), protocol, 64, src, dst)
            ethertype = b"\x86\xdd"
        offset = 6 if protocol == _PROTO_UDP else 16
        checksum = _checksum(pseudo + segment)
        if protocol == _PROTO_UDP and checksum == 0:
            checksum = 0xFFFF  # RFC 768: zero means "no checksum"
        segment = segment[:offset] + checksum.to_bytes(2, "big") + segment[offset + 2 :]
        macs = _REMOTE_MAC + _LOCAL_MAC if sent else _LOCAL_MAC + _REMOTE_MAC
        return macs + ethertype + ip + segment


def _as_ipv6(packed: bytes) -> bytes:
    return packed if len(packed) == 16 else b"\x00" * 10 + b"\xff\xff" + packed


class PcapWriter(FileTraceWriter):
    """Appends packets to a size-rotated pcap file (each file has its own header)."""

    def __init__(self, path: Path, *, max_bytes: int = 50_000_000, backups: int = 5) -> None:
        self.file = RotatingFile(path, max_bytes=max_bytes, backups=backups, header=PCAP_HEADER)
        self._builder = PcapPacketBuilder()

    def write(
        self,
        direction: str,
        transport: str,
        local: Address,
        remote: Address,
        timestamp: float,
        data: bytes,
    ) -> None:
        micros = round(timestamp * 1_000_000)
        seconds, micros = divmod(micros, 1_000_000)
        frames = self._builder.frames(direction, transport, local, remote, data)
        packets = [_RECORD.pack(seconds, micros, len(f), len(f)) + f for f in frames]
        if packets:
            self.file.write(b"".join(packets))
