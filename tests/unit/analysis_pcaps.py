"""Build small pcap/pcapng files with dpkt for the trace reader tests."""

from __future__ import annotations

import io
import socket
import struct
from collections.abc import Iterable

import dpkt


def sip_message(
    first_line: str,
    call_id: str = "c1@test",
    cseq: str = "1 INVITE",
    *,
    via: str = "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1",
    from_: str = "<sip:alice@example.com>;tag=a1",
    to: str = "<sip:bob@example.com>",
    extra: Iterable[str] = (),
    body: bytes = b"",
) -> bytes:
    headers = [first_line, f"Via: {via}", f"From: {from_}", f"To: {to}", f"Call-ID: {call_id}"]
    headers += [f"CSeq: {cseq}", *extra, f"Content-Length: {len(body)}"]
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + body


def _ip(src: str, dst: str, proto: int, payload: dpkt.Packet) -> dpkt.Packet:
    if ":" in src:
        packet = dpkt.ip6.IP6(
            src=socket.inet_pton(socket.AF_INET6, src),
            dst=socket.inet_pton(socket.AF_INET6, dst),
            nxt=proto,
            hlim=64,
            data=payload,
        )
        packet.plen = len(bytes(payload))
        return packet
    packet = dpkt.ip.IP(src=socket.inet_aton(src), dst=socket.inet_aton(dst), p=proto, data=payload)
    packet.len = 20 + len(bytes(payload))
    return packet


def udp_packet(src: str, sport: int, dst: str, dport: int, data: bytes) -> dpkt.Packet:
    udp = dpkt.udp.UDP(sport=sport, dport=dport, data=data)
    udp.ulen = 8 + len(data)
    return _ip(src, dst, dpkt.ip.IP_PROTO_UDP, udp)


def tcp_packet(
    src: str, sport: int, dst: str, dport: int, seq: int, data: bytes, flags: int = dpkt.tcp.TH_ACK
) -> dpkt.Packet:
    tcp = dpkt.tcp.TCP(sport=sport, dport=dport, seq=seq, flags=flags, data=data)
    return _ip(src, dst, dpkt.ip.IP_PROTO_TCP, tcp)


def ethernet(ip: dpkt.Packet, vlan: int | None = None) -> bytes:
    ether_type = (
        dpkt.ethernet.ETH_TYPE_IP6 if isinstance(ip, dpkt.ip6.IP6) else dpkt.ethernet.ETH_TYPE_IP
    )
    header = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01"
    if vlan is not None:
        header += struct.pack("!HH", dpkt.ethernet.ETH_TYPE_8021Q, vlan)
    return header + struct.pack("!H", ether_type) + bytes(ip)


def linux_cooked(ip: dpkt.Packet) -> bytes:
    """LINKTYPE_LINUX_SLL (113): packet type, ARPHRD, address length, address, protocol."""
    protocol = (
        dpkt.ethernet.ETH_TYPE_IP6 if isinstance(ip, dpkt.ip6.IP6) else dpkt.ethernet.ETH_TYPE_IP
    )
    return struct.pack("!HHH8sH", 0, 1, 6, b"\x02\0\0\0\0\x01\0\0", protocol) + bytes(ip)


def pcap_file(frames: Iterable[tuple[float, bytes]], linktype: int = dpkt.pcap.DLT_EN10MB) -> bytes:
    buffer = io.BytesIO()
    writer = dpkt.pcap.Writer(buffer, linktype=linktype)
    for time, frame in frames:
        writer.writepkt(frame, ts=time)
    return buffer.getvalue()


def pcapng_file(frames: Iterable[tuple[float, bytes]]) -> bytes:
    buffer = io.BytesIO()
    writer = dpkt.pcapng.Writer(buffer)
    for time, frame in frames:
        writer.writepkt(frame, ts=time)
    return buffer.getvalue()
