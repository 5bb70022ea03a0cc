"""pcap and pcapng reader: SIP over UDP and TCP, IPv4 and IPv6, Ethernet (with VLAN
tags), Linux cooked capture (v1 and v2), BSD loopback and raw IP link types.

UDP datagrams that start with a SIP start line are messages; IPv4 fragments are put
back together first.  TCP flows are reassembled in sequence order (retransmitted
segments trimmed, out-of-order ones held back) and cut into messages by
Content-Length (RFC 3261 section 18.3), so one segment may carry several messages and
one message may span several segments.
"""

from __future__ import annotations

import functools
import io
import ipaddress
import operator
import struct
from dataclasses import dataclass, field
from typing import Any

import dpkt

from sipline.sip import Address

from ._framing import StreamSplitter, looks_like_sip
from ._record import Origin, TraceFormatError, TraceRecord

__all__ = ["PCAPNG_MAGIC", "PCAP_MAGICS", "read_pcap"]

PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
#: Classic pcap magics: (byte order, divisor of the sub-second field).
PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e6),
    b"\xa1\xb2\xc3\xd4": (">", 1e6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e9),
    b"\xa1\xb2\x3c\x4d": (">", 1e9),
}
_SIP_PORTS = frozenset({5060, 5080})
_LINK_ETHERNET = 1
_LINK_NULL = (0, 108)
_LINK_RAW = (12, 14, 101, 228, 229)
_LINK_SLL = 113
_LINK_SLL2 = 276
_MAX_HELD_SEGMENTS = 64
_time_of = operator.attrgetter("time")


@dataclass(slots=True)
class _Flow:
    """One direction of a TCP connection."""

    next_seq: int | None = None
    held: dict[int, bytes] = field(default_factory=dict)
    splitter: StreamSplitter = field(default_factory=StreamSplitter)
    is_sip: bool | None = None
    first_packet: int = 0


def _pcapng_packets(data: bytes, path: str) -> tuple[int, list[tuple[float, bytes]]]:
    try:
        reader = dpkt.pcapng.Reader(io.BytesIO(data))
        linktype = int(reader.datalink())
        packets = [(float(ts), bytes(buf)) for ts, buf in reader]
    except (dpkt.UnpackError, ValueError, struct.error) as error:
        raise TraceFormatError(f"{path}: truncated or damaged pcapng: {error}") from None
    return linktype, packets


def _network_layer(linktype: int, frame: bytes) -> Any:
    """The dpkt IP/IP6 object of a frame, or ``None`` for anything else."""
    if linktype == _LINK_ETHERNET:
        packet: Any = dpkt.ethernet.Ethernet(frame).data  # VLAN/QinQ tags handled by dpkt
    elif linktype == _LINK_SLL:
        packet = dpkt.sll.SLL(frame).data
    elif linktype == _LINK_SLL2:
        packet = dpkt.sll2.SLL2(frame).data
    elif linktype in _LINK_NULL:
        packet = dpkt.loopback.Loopback(frame).data
    elif linktype in _LINK_RAW and frame:
        version = frame[0] >> 4
        packet = (
            dpkt.ip.IP(frame) if version == 4 else dpkt.ip6.IP6(frame) if version == 6 else None
        )
    else:
        return None
    return packet if isinstance(packet, dpkt.ip.IP | dpkt.ip6.IP6) else None


class _PacketDecoder:
    """Turns link-layer frames into SIP trace records, keeping TCP and fragment state."""

    def __init__(self, path: str, linktype: int) -> None:
        self._path = path
        self.linktype = linktype
        self._flows: dict[tuple[str, int, str, int], _Flow] = {}
        self._fragments: dict[tuple[bytes, bytes, int, int], dict[int, bytes]] = {}
        self._addresses: dict[tuple[str, str, int], Address] = {}
        self._udp_ends: dict[bytes, tuple[Address, Address]] = {}
        self.records: list[TraceRecord] = []
        self.ip_packets = 0

    def decode(self, number: int, time: float, frame: bytes) -> None:
        try:
            ip = _network_layer(self.linktype, frame)
        except (dpkt.UnpackError, struct.error, IndexError):
            return  # a frame the capture cut short, or not IP: nothing SIP in it
        if ip is None:
            return
        self.ip_packets += 1
        if isinstance(ip, dpkt.ip.IP):
            src, dst = _ip_text(ip.src), _ip_text(ip.dst)
            if ip.mf or ip.offset:
                ip = self._defragment(ip)
                if ip is None:
                    return
        else:
            src, dst = _ip_text(ip.src), _ip_text(ip.dst)
        transport_layer = ip.data
        if isinstance(transport_layer, dpkt.udp.UDP):
            sport, dport = transport_layer.sport, transport_layer.dport
            self.udp(number, time, src, sport, dst, dport, bytes(transport_layer.data))
        elif isinstance(transport_layer, dpkt.tcp.TCP):
            self._tcp(number, time, src, dst, transport_layer)

    def _defragment(self, ip: Any) -> Any:
        """RFC 791 reassembly, enough for SIP over UDP larger than the MTU."""
        key = (ip.src, ip.dst, ip.id, ip.p)
        pieces = self._fragments.setdefault(key, {})
        payload = bytes(ip)[ip.hl * 4 : ip.len]
        pieces[ip.offset] = payload
        if not ip.mf:
            pieces[-1] = b""  # the last fragment has arrived
        if -1 not in pieces:
            return None
        whole = b""
        for offset in sorted(k for k in pieces if k >= 0):
            if offset != len(whole):
                return None  # a hole: wait for the missing fragment
            whole += pieces[offset]
        del self._fragments[key]
        if ip.p == dpkt.ip.IP_PROTO_UDP:
            rebuilt = dpkt.ip.IP(src=ip.src, dst=ip.dst, p=ip.p, data=dpkt.udp.UDP(whole))
            return rebuilt
        return None

    def udp(
        self, number: int, time: float, src: str, sport: int, dst: str, dport: int, payload: bytes
    ) -> None:
        """One UDP datagram's payload: a record when it is SIP (or junk on a SIP port)."""
        source, destination = self._address("udp", src, sport), self._address("udp", dst, dport)
        self.udp_between(number, time, source, destination, payload)

    def udp_between(
        self, number: int, time: float, source: Address, destination: Address, payload: bytes
    ) -> None:
        if not looks_like_sip(payload):
            if not payload.strip() or not (
                source.port in _SIP_PORTS or destination.port in _SIP_PORTS
            ):
                return  # keep-alives and other protocols (RTP, DNS, STUN) are not SIP
            if payload[:1] in (b"\x00", b"\x01") or (payload[0] & 0xC0) == 0x80:
                return  # STUN / RTP multiplexed on the SIP port
        origin = Origin(self._path, None, number)
        self.records.append(TraceRecord(time, None, source, destination, "udp", payload, origin))

    def udp_ends(self, key: bytes) -> tuple[Address, Address]:
        """Source and destination of ``key`` = IPv4 source, destination, UDP ports."""
        ends = self._udp_ends.get(key)
        if ends is None:
            sport, dport = struct.unpack("!HH", key[8:12])
            ends = self._udp_ends[key] = (
                self._address("udp", _ip_text(key[:4]), sport),
                self._address("udp", _ip_text(key[4:8]), dport),
            )
        return ends

    def _address(self, transport: str, host: str, port: int) -> Address:
        """One shared ``Address`` per end (a capture has few ends and many messages)."""
        key = (transport, host, port)
        address = self._addresses.get(key)
        if address is None:
            address = self._addresses[key] = Address(transport, host, port)
        return address

    def _tcp(self, number: int, time: float, src: str, dst: str, tcp: Any) -> None:
        key = (src, tcp.sport, dst, tcp.dport)
        flow = self._flows.get(key)
        if flow is None or tcp.flags & dpkt.tcp.TH_SYN:
            flow = self._flows[key] = _Flow(first_packet=number)
        if tcp.flags & dpkt.tcp.TH_SYN:
            flow.next_seq = (tcp.seq + 1) & 0xFFFFFFFF
            return
        data = bytes(tcp.data)
        if not data or flow.is_sip is False:
            return
        if flow.next_seq is None:
            flow.next_seq = tcp.seq
        for chunk in self._in_order(flow, tcp.seq, data):
            if flow.is_sip is None:
                if not chunk.strip(b"\r\n"):
                    continue  # a keep-alive before the first message decides nothing
                on_sip_port = tcp.sport in _SIP_PORTS or tcp.dport in _SIP_PORTS
                flow.is_sip = looks_like_sip(chunk) or on_sip_port
                if not flow.is_sip:
                    return
            for message in flow.splitter.feed(chunk):
                self._add_stream_record(number, time, key, message)

    def _in_order(self, flow: _Flow, seq: int, data: bytes) -> list[bytes]:
        """Bytes now in order: trims retransmissions, holds segments after a gap."""
        assert flow.next_seq is not None
        delta = (seq - flow.next_seq) & 0xFFFFFFFF
        if delta >= 0x80000000:  # starts before what we have: a retransmission
            overlap = 0x100000000 - delta
            if overlap >= len(data):
                return []
            data, seq = data[overlap:], flow.next_seq
        elif delta:
            flow.held[seq] = data
            if len(flow.held) <= _MAX_HELD_SEGMENTS:
                return []
            seq = min(flow.held, key=lambda s: (s - flow.next_seq) & 0xFFFFFFFF)  # type: ignore[operator]
            data = flow.held.pop(seq)  # give up on the gap: the capture lost it
        ready = [data]
        flow.next_seq = (seq + len(data)) & 0xFFFFFFFF
        while flow.next_seq in flow.held:
            more = flow.held.pop(flow.next_seq)
            ready.append(more)
            flow.next_seq = (flow.next_seq + len(more)) & 0xFFFFFFFF
        return ready

    def _add_stream_record(
        self,
        number: int,
        time: float,
        key: tuple[str, int, str, int],
        message: bytes,
        notes: tuple[str, ...] = (),
    ) -> None:
        src, sport, dst, dport = key
        self.records.append(
            TraceRecord(
                time=time,
                direction=None,
                source=self._address("tcp", src, sport),
                destination=self._address("tcp", dst, dport),
                transport="tcp",
                raw=message,
                origin=Origin(self._path, packet=number),
                notes=notes,
            )
        )

    def finish(self, last_time: float) -> None:
        """Messages left incomplete when the capture ended are shown, never dropped."""
        for key, flow in self._flows.items():
            if flow.is_sip and (flow.held or flow.splitter.pending):
                for data in sorted(flow.held.items()):
                    flow.splitter.feed(data[1])
                for rest in flow.splitter.flush():
                    note = ("incomplete: the capture ended inside this TCP message",)
                    self._add_stream_record(flow.first_packet, last_time, key, rest, note)
        self.records.sort(key=_time_of)  # pcap records always have a time


@functools.lru_cache(maxsize=4096)
def _ip_text(address: bytes) -> str:
    return str(ipaddress.ip_address(address))


def _fast_ethernet_udp(
    decoder: _PacketDecoder, number: int, time: float, data: bytes, start: int, end: int
) -> bool:
    """Ethernet / IPv4 (not fragmented) / UDP decoded by hand, as most SIP captures are;
    False for anything else (VLAN, IPv6, TCP, fragments, odd lengths: dpkt's turn)."""
    if end - start < 42 or data[start + 12] != 8 or data[start + 13] != 0:
        return False
    version_ihl = data[start + 14]
    ihl = (version_ihl & 0x0F) * 4
    if version_ihl >> 4 != 4 or ihl < 20 or data[start + 23] != 17:
        return False
    total, _, fragment = _IPV4_LENGTHS.unpack_from(data, start + 16)
    udp = start + 14 + ihl
    if fragment & 0x3FFF or start + 14 + total > end or udp + 8 > end:
        return False
    length = (data[udp + 4] << 8) | data[udp + 5]
    if length != total - ihl:
        return False
    decoder.ip_packets += 1
    source, destination = decoder.udp_ends(data[start + 26 : start + 34] + data[udp : udp + 4])
    decoder.udp_between(number, time, source, destination, data[udp + 8 : udp + length])
    return True


_IPV4_LENGTHS = struct.Struct("!HHH")  # total length, identification, flags + offset


def _read_classic(data: bytes, path: str) -> tuple[_PacketDecoder, int, float]:
    """Classic pcap, decoded packet by packet as it is read (no list of frames)."""
    if len(data) < 24:
        raise TraceFormatError(f"{path}: truncated pcap: the 24-byte file header is cut short")
    order, divisor = PCAP_MAGICS[data[:4]]
    linktype = struct.unpack_from(order + "I", data, 20)[0] & 0x0FFFFFFF
    decoder = _PacketDecoder(path, linktype)
    record = struct.Struct(order + "IIII")
    ethernet = linktype == _LINK_ETHERNET
    offset, size, number, time = 24, len(data), 0, 0.0
    while offset < size:
        number += 1
        if offset + 16 > size:
            raise TraceFormatError(f"{path}: truncated pcap: packet {number} header is cut short")
        seconds, fraction, caplen, _ = record.unpack_from(data, offset)
        offset += 16
        end = offset + caplen
        if end > size:
            raise TraceFormatError(
                f"{path}: truncated pcap: packet {number} has {size - offset} of its {caplen} bytes"
            )
        time = seconds + fraction / divisor
        if not (ethernet and _fast_ethernet_udp(decoder, number, time, data, offset, end)):
            decoder.decode(number, time, data[offset:end])
        offset = end
    return decoder, number, time


def read_pcap(data: bytes, path: str) -> list[TraceRecord]:
    """Every SIP message in a pcap or pcapng file, in capture order."""
    if data[:4] == PCAPNG_MAGIC:
        linktype, packets = _pcapng_packets(data, path)
        decoder = _PacketDecoder(path, linktype)
        for number, (time, frame) in enumerate(packets, 1):
            decoder.decode(number, time, frame)
        count, last_time = len(packets), packets[-1][0] if packets else 0.0
    elif data[:4] in PCAP_MAGICS:
        decoder, count, last_time = _read_classic(data, path)
        linktype = decoder.linktype
    else:
        raise TraceFormatError(f"{path}: not a pcap or pcapng file (unknown magic number)")
    decoder.finish(last_time)
    if count and decoder.ip_packets == 0:
        raise TraceFormatError(f"{path}: no IP packets found (link type {linktype} not supported?)")
    return decoder.records
