"""pcap writer: frames dpkt and the analysis reader decode, valid checksums, TCP
sequence numbers per connection, IPv6, real timestamps."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import dpkt
import pytest
from trace_samples import (
    BROWSER_WS6,
    CALL,
    CALLEE_TCP,
    INVITE,
    OK,
    PHONE,
    SERVER_TCP,
    SERVER_UDP,
    SERVER_WS6,
    T0,
)

from sipline.analysis import read_trace
from sipline.sip import Address
from sipline.trace import PcapPacketBuilder, PcapWriter

STREAM = [
    ("send", "tcp", SERVER_TCP, CALLEE_TCP, T0 + 0.1, INVITE),
    ("recv", "tcp", SERVER_TCP, CALLEE_TCP, T0 + 0.2, OK),
    ("send", "tcp", SERVER_TCP, CALLEE_TCP, T0 + 0.3, CALL[3][5]),
    ("recv", "ws", SERVER_WS6, BROWSER_WS6, T0 + 0.4, INVITE),
]


def _ones_complement_sum(data: bytes) -> int:
    """Word by word with end-around carry (RFC 1071), independent of the writer's trick."""
    if len(data) % 2:
        data += b"\0"
    total = 0
    for index in range(0, len(data), 2):
        total += (data[index] << 8) | data[index + 1]
        total = (total & 0xFFFF) + (total >> 16)
    return total


def _packets(path: Path) -> list[tuple[float, bytes]]:
    with path.open("rb") as file:
        return [(float(ts), bytes(buf)) for ts, buf in dpkt.pcap.Reader(file)]


def _check_checksums(frame: bytes) -> None:
    eth = dpkt.ethernet.Ethernet(frame)
    ip = eth.data
    if isinstance(ip, dpkt.ip.IP):
        header = bytes(frame[14 : 14 + 20])
        assert _ones_complement_sum(header) == 0xFFFF
        pseudo = ip.src + ip.dst + bytes((0, ip.p)) + len(ip.data).to_bytes(2, "big")
    else:
        pseudo = ip.src + ip.dst + len(ip.data).to_bytes(4, "big") + bytes((0, 0, 0, ip.nxt))
    segment = bytes(ip.data)
    assert _ones_complement_sum(pseudo + segment) == 0xFFFF


def test_udp_call_reads_back_with_times_and_addresses(tmp_path: Path) -> None:
    writer = PcapWriter(tmp_path / "sip.pcap")
    for call in CALL:
        writer.write(*call)
    writer.close()
    records = read_trace(tmp_path / "sip.pcap")
    assert [r.raw for r in records] == [c[5] for c in CALL]
    assert (records[0].source, records[0].destination) == (PHONE, SERVER_UDP)
    assert (records[1].source, records[1].destination) == (SERVER_UDP, PHONE)
    assert [r.time for r in records] == pytest.approx([c[4] for c in CALL], abs=1e-6)
    for _, frame in _packets(tmp_path / "sip.pcap"):
        _check_checksums(frame)


def test_stream_messages_are_tcp_segments_in_sequence(tmp_path: Path) -> None:
    writer = PcapWriter(tmp_path / "sip.pcap")
    for call in STREAM:
        writer.write(*call)
    writer.close()
    packets = _packets(tmp_path / "sip.pcap")
    segments = []
    for _, frame in packets:
        _check_checksums(frame)
        segments.append(dpkt.ethernet.Ethernet(frame).data.data)
    assert all(isinstance(s, dpkt.tcp.TCP) for s in segments)
    first, answer, ack, ws = segments
    assert (first.sport, first.dport) == (5060, 40123)
    assert ack.seq == first.seq + len(INVITE)  # same direction continues the stream
    assert answer.ack == first.seq + len(INVITE)  # the peer acknowledges what it got
    assert ack.ack == answer.seq + len(OK)
    assert (ws.sport, ws.dport) == (51000, 8080)
    records = read_trace(tmp_path / "sip.pcap")
    assert [r.raw for r in records] == [c[5] for c in STREAM]
    assert records[3].source == Address("tcp", "2001:db8::99", 51000)


def test_long_stream_message_is_split_into_segments() -> None:
    builder = PcapPacketBuilder()
    data = INVITE + b"x" * 70000
    frames = builder.frames("send", "tls", SERVER_TCP, CALLEE_TCP, data)
    assert len(frames) == 2
    payloads = [bytes(dpkt.ethernet.Ethernet(f).data.data.data) for f in frames]
    assert b"".join(payloads) == data
    for frame in frames:
        _check_checksums(frame)


def test_file_header_is_classic_ethernet_pcap(tmp_path: Path) -> None:
    writer = PcapWriter(tmp_path / "sip.pcap")
    writer.write(*CALL[0])
    writer.close()
    with (tmp_path / "sip.pcap").open("rb") as file:
        reader = dpkt.pcap.Reader(file)
        assert reader.datalink() == dpkt.pcap.DLT_EN10MB
        assert reader.snaplen >= 65535
        assert next(iter(reader))[0] == pytest.approx(T0, abs=1e-6)


def test_rotated_pcaps_each_start_with_a_header(tmp_path: Path) -> None:
    path = tmp_path / "sip.pcap"
    writer = PcapWriter(path, max_bytes=800, backups=10)
    for call in CALL:
        writer.write(*call)
    writer.close()
    files = sorted(tmp_path.iterdir())
    assert len(files) > 2
    total = 0
    for file in files:
        with file.open("rb") as handle:
            total += len(list(dpkt.pcap.Reader(io.BytesIO(handle.read()))))
    assert total == len(CALL)


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
def test_tshark_dissects_sip(tmp_path: Path) -> None:
    path = tmp_path / "sip.pcap"
    writer = PcapWriter(path)
    for call in [*CALL, *STREAM[:3]]:
        writer.write(*call)
    writer.close()
    result = subprocess.run(
        ["tshark", "-n", "-r", str(path), "-T", "fields", "-e", "sip.CSeq", "-Y", "sip"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    cseqs = result.stdout.split("\n")[:-1]
    udp = ["1 INVITE", "1 INVITE", "1 INVITE", "1 ACK", "2 BYE", "2 BYE"]
    assert cseqs == [*udp, "1 INVITE", "1 INVITE", "1 ACK"]
