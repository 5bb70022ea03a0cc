"""HEPv3 sender: chunks decoded independently, sent to a UDP socket on 127.0.0.1."""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Iterator

import pytest
from trace_samples import BROWSER_WS6, CALL, SERVER_WS6, T0

from sipline.trace import HepSender, encode_hep3, parse_host_port


def _chunks(packet: bytes) -> dict[int, bytes]:
    assert packet[:4] == b"HEP3"
    assert int.from_bytes(packet[4:6], "big") == len(packet)
    found: dict[int, bytes] = {}
    offset = 6
    while offset < len(packet):
        vendor, kind, length = struct.unpack_from("!HHH", packet, offset)
        assert vendor == 0
        assert length >= 6
        found[kind] = packet[offset + 6 : offset + length]
        offset += length
    assert offset == len(packet)
    return found


def test_ipv4_udp_received_message() -> None:
    direction, transport, local, remote, timestamp, data = CALL[0]
    chunks = _chunks(encode_hep3(direction, transport, local, remote, timestamp, data, agent_id=7))
    assert chunks[1] == b"\x02"  # AF_INET
    assert chunks[2] == b"\x11"  # UDP
    assert chunks[3] == socket.inet_aton(remote.host)  # received: the peer is the source
    assert chunks[4] == socket.inet_aton(local.host)
    assert int.from_bytes(chunks[7], "big") == remote.port
    assert int.from_bytes(chunks[8], "big") == local.port
    assert int.from_bytes(chunks[9], "big") == int(T0)
    assert int.from_bytes(chunks[10], "big") == 916812
    assert chunks[11] == b"\x01"  # SIP
    assert int.from_bytes(chunks[12], "big") == 7
    assert chunks[15] == data


def test_ipv6_stream_sent_message() -> None:
    chunks = _chunks(encode_hep3("send", "ws", SERVER_WS6, BROWSER_WS6, T0, b"SIP/2.0 200 OK\r\n"))
    assert chunks[1] == b"\x0a"  # AF_INET6
    assert chunks[2] == b"\x06"  # TCP
    assert chunks[5] == ipaddress.ip_address(SERVER_WS6.host).packed
    assert chunks[6] == ipaddress.ip_address(BROWSER_WS6.host).packed
    assert not {3, 4} & chunks.keys()
    assert int.from_bytes(chunks[7], "big") == 8080


@pytest.fixture
def collector() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    yield sock
    sock.close()


def test_sender_delivers_to_the_collector(collector: socket.socket) -> None:
    port = collector.getsockname()[1]
    sender = HepSender(f"127.0.0.1:{port}", agent_id=2001)
    try:
        for call in CALL:
            sender.write(*call)
        payloads = [_chunks(collector.recv(65535))[15] for _ in CALL]
    finally:
        sender.close()
    assert payloads == [call[5] for call in CALL]
    assert (sender.sent, sender.errors) == (len(CALL), 0)


def test_too_large_message_is_counted_not_raised(collector: socket.socket) -> None:
    sender = HepSender(f"127.0.0.1:{collector.getsockname()[1]}")
    try:
        sender.write(*CALL[0][:5], b"x" * 70000)
    finally:
        sender.close()
    assert sender.errors == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [("127.0.0.1:9060", ("127.0.0.1", 9060)), ("[::1]:9061", ("::1", 9061))],
)
def test_parse_host_port(text: str, expected: tuple[str, int]) -> None:
    assert parse_host_port(text) == expected


@pytest.mark.parametrize("text", ["127.0.0.1", ":9060", "host:0", "host:http"])
def test_parse_host_port_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_host_port(text)
