"""Trace readers: pcap/pcapng (link types, IPv6, TCP reassembly), siptrace text,
syslog and plain text, and auto-detection with one-line errors on bad input."""

from __future__ import annotations

from pathlib import Path

import dpkt
import pytest
from analysis_pcaps import (
    ethernet,
    linux_cooked,
    pcap_file,
    pcapng_file,
    sip_message,
    tcp_packet,
    udp_packet,
)

from sipline.analysis import (
    LOCAL,
    Direction,
    TraceFormatError,
    detect_format,
    parse_records,
    read_records,
    read_trace,
)
from sipline.sip import Address

DATA = Path(__file__).resolve().parent.parent / "data" / "traces"
INVITE = sip_message("INVITE sip:bob@example.com SIP/2.0")
RINGING = sip_message("SIP/2.0 180 Ringing", to="<sip:bob@example.com>;tag=b1")


def test_udp_ipv4_over_ethernet() -> None:
    data = pcap_file(
        [
            (1000.25, ethernet(udp_packet("10.0.0.1", 5060, "10.0.0.2", 5070, INVITE))),
            (1000.5, ethernet(udp_packet("10.0.0.2", 5070, "10.0.0.1", 5060, RINGING))),
        ]
    )
    records = read_records(data, "call.pcap")
    assert [r.raw for r in records] == [INVITE, RINGING]
    first = records[0]
    assert first.time == pytest.approx(1000.25)
    assert first.source == Address("udp", "10.0.0.1", 5060)
    assert first.destination == Address("udp", "10.0.0.2", 5070)
    assert first.transport == "udp"
    assert str(first.origin) == "call.pcap packet 1"


def test_udp_ipv6_and_vlan_and_linux_cooked() -> None:
    v6 = pcap_file([(1.0, ethernet(udp_packet("2001:db8::1", 5060, "2001:db8::2", 5060, INVITE)))])
    assert read_records(v6, "v6.pcap")[0].source == Address("udp", "2001:db8::1", 5060)
    vlan = pcap_file(
        [(1.0, ethernet(udp_packet("10.0.0.1", 5060, "10.0.0.2", 5060, INVITE), vlan=42))]
    )
    assert read_records(vlan, "vlan.pcap")[0].raw == INVITE
    cooked = pcap_file(
        [(1.0, linux_cooked(udp_packet("10.0.0.1", 5060, "10.0.0.2", 5060, INVITE)))],
        linktype=dpkt.pcap.DLT_LINUX_SLL,
    )
    assert read_records(cooked, "sll.pcap")[0].destination == Address("udp", "10.0.0.2", 5060)


def test_pcapng() -> None:
    data = pcapng_file([(5.0, ethernet(udp_packet("10.0.0.1", 5060, "10.0.0.2", 5060, INVITE)))])
    assert detect_format(data) == "pcap"
    (record,) = read_records(data, "call.pcapng")
    assert record.raw == INVITE
    assert record.time == pytest.approx(5.0)


def test_tcp_message_split_across_segments_and_two_in_one() -> None:
    first, second = INVITE[:50], INVITE[50:]
    both = RINGING + sip_message("SIP/2.0 200 OK", to="<sip:bob@example.com>;tag=b1")
    a, b = ("10.0.0.1", 40000), ("10.0.0.2", 5060)
    frames = [
        (1.0, ethernet(tcp_packet(*a, *b, 999, b"", flags=dpkt.tcp.TH_SYN))),
        (1.1, ethernet(tcp_packet(*a, *b, 1000, first))),
        (1.1, ethernet(tcp_packet(*a, *b, 1000, first))),  # a retransmitted segment
        (1.2, ethernet(tcp_packet(*a, *b, 1000 + len(first), second))),
        (1.3, ethernet(tcp_packet(*b, *a, 7000, both))),
    ]
    records = read_records(pcap_file(frames), "tcp.pcap")
    assert [r.raw.split(b"\r\n", 1)[0] for r in records] == [
        b"INVITE sip:bob@example.com SIP/2.0",
        b"SIP/2.0 180 Ringing",
        b"SIP/2.0 200 OK",
    ]
    assert records[0].raw == INVITE
    assert records[0].time == pytest.approx(1.2)  # complete when the last segment came
    assert records[0].transport == "tcp"
    assert records[1].source == Address("tcp", "10.0.0.2", 5060)


def test_tcp_out_of_order_segments() -> None:
    a, b = ("10.0.0.1", 40000), ("10.0.0.2", 5060)
    frames = [
        (1.0, ethernet(tcp_packet(*a, *b, 100, INVITE[:10]))),
        (1.1, ethernet(tcp_packet(*a, *b, 130, INVITE[30:]))),
        (1.2, ethernet(tcp_packet(*a, *b, 110, INVITE[10:30]))),
    ]
    (record,) = read_records(pcap_file(frames), "ooo.pcap")
    assert record.raw == INVITE


def test_tcp_message_cut_by_end_of_capture_is_kept_with_a_note() -> None:
    frames = [(1.0, ethernet(tcp_packet("10.0.0.1", 40000, "10.0.0.2", 5060, 1, INVITE[:-5])))]
    (record,) = read_records(pcap_file(frames), "cut.pcap")
    assert "incomplete" in record.notes[0]
    (traced,) = parse_records([record])
    assert traced.message is None or traced.record.notes


def test_non_sip_traffic_is_ignored() -> None:
    rtp = b"\x80\x00" + b"\x00" * 170
    frames = [
        (1.0, ethernet(udp_packet("10.0.0.1", 40000, "10.0.0.2", 40002, rtp))),
        (1.1, ethernet(udp_packet("10.0.0.1", 5060, "10.0.0.2", 5060, INVITE))),
        (1.2, ethernet(udp_packet("10.0.0.1", 5060, "10.0.0.2", 5060, b"\r\n\r\n"))),
    ]
    assert len(read_records(pcap_file(frames), "mixed.pcap")) == 1


def test_junk_on_the_sip_port_is_shown_as_unparsed() -> None:
    frames = [(1.0, ethernet(udp_packet("10.0.0.1", 5060, "10.0.0.2", 5060, b"HELLO WORLD\r\n")))]
    (traced,) = parse_records(read_records(pcap_file(frames), "junk.pcap"))
    assert traced.message is None
    assert traced.error


def test_truncated_pcap_is_a_clear_error() -> None:
    data = pcap_file([(1.0, ethernet(udp_packet("10.0.0.1", 5060, "10.0.0.2", 5060, INVITE)))])
    with pytest.raises(TraceFormatError, match=r"truncated pcap: packet 1"):
        read_records(data[:-20], "cut.pcap")
    with pytest.raises(TraceFormatError, match="truncated"):
        read_records(data[:30], "cut.pcap")


def test_ipv4_fragments_are_reassembled() -> None:
    big = sip_message("INVITE sip:bob@example.com SIP/2.0", body=b"v=0\r\n" + b"a=x\r\n" * 400)
    udp = dpkt.udp.UDP(sport=5060, dport=5060, data=big)
    udp.ulen = 8 + len(big)
    payload = bytes(udp)
    frames = []
    for offset in range(0, len(payload), 1480):
        piece = payload[offset : offset + 1480]
        more = offset + 1480 < len(payload)
        ip = dpkt.ip.IP(src=b"\x0a\0\0\1", dst=b"\x0a\0\0\2", p=17, id=7, data=piece)
        ip.mf, ip.offset = int(more), offset
        ip.len = 20 + len(piece)
        frames.append((1.0, ethernet(ip)))
    (record,) = read_records(pcap_file(frames), "frag.pcap")
    assert record.raw == big


def test_freeswitch_console_capture_keeps_every_block() -> None:
    records = read_trace(DATA / "fs_register.txt")
    assert len(records) == 5
    assert [r.direction for r in records] == [
        Direction.RECEIVED,
        Direction.SENT,
        Direction.RECEIVED,
        Direction.SENT,
        Direction.SENT,
    ]
    assert records[0].source == Address("udp", "192.168.4.4", 5090)
    assert records[0].destination == LOCAL
    assert records[1].source == LOCAL
    assert records[0].time == pytest.approx(12 * 3600 + 30 * 60 + 57.916812)
    # the 401 was flattened onto one line of the document: rebuilt, with a note
    assert "one line" in records[1].notes[0]
    traced = parse_records(records)
    assert all(t.message is not None for t in traced)
    assert traced[1].status == 401
    assert traced[2].has_credentials  # the folded Authorization header survived


def test_body_left_out_of_a_capture_is_noted_not_fatal() -> None:
    records = read_trace(DATA / "fs_b2bua_call.txt")
    invite = records[0]
    assert b"Content-Length: 0\r\n" in invite.raw
    assert "Content-Length 594" in invite.notes[0]


def test_sipline_trace_reads_exact_bytes() -> None:
    message = sip_message(
        "OPTIONS sip:x@example.com SIP/2.0", cseq="1 OPTIONS", body=b"\x00\xffbin"
    )
    dashes = b"-" * 72
    text = (
        f"recv {len(message)} bytes from tcp/[2001:db8::5]:5061 on tcp/[2001:db8::1]:5060 "
        "at 2024-05-01 10:00:00.500000:\n"
    ).encode()
    data = text + dashes + b"\n" + message + b"\n" + dashes + b"\n"
    assert detect_format(data) == "sipline"
    (record,) = read_records(data, "trace.log")
    assert record.raw == message
    assert record.source == Address("tcp", "2001:db8::5", 5061)
    assert record.destination == Address("tcp", "2001:db8::1", 5060)
    assert record.time == pytest.approx(1714557600.5)


def test_syslog_one_message_per_line() -> None:
    line = (
        "Mar  3 10:15:02 phone42 sipua[77]: RECV from 192.168.1.1:5060 udp "
        "SIP/2.0 200 OK^MVia: SIP/2.0/UDP 192.168.1.42:5060;branch=z9hG4bK9^M"
        "From: <sip:42@pbx>;tag=1^MTo: <sip:42@pbx>;tag=2^MCall-ID: reg42^M"
        "CSeq: 2 REGISTER^MContent-Length: 0^M^M\n"
    )
    data = ("Mar  3 10:15:01 phone42 sipua[77]: starting\n" + line).encode()
    assert detect_format(data) == "syslog"
    (record,) = read_records(data, "phone.log")
    assert record.direction is Direction.RECEIVED
    assert record.source == Address("udp", "192.168.1.1", 5060)
    assert record.raw.startswith(b"SIP/2.0 200 OK\r\nVia:")
    (traced,) = parse_records([record])
    assert traced.status == 200
    assert traced.cseq_method == "REGISTER"


def test_plain_messages_with_bare_line_feeds() -> None:
    records = read_trace(DATA / "direct_call.sip")
    assert len(records) == 7
    traced = parse_records(records)
    assert all(t.message is not None for t in traced)
    assert traced[0].message is not None
    assert traced[0].message.body.startswith(b"v=0\r\n")
    # plain dumps name no addresses: Via sent-by and Request-URI stand in
    assert traced[0].source == "192.168.4.4:26000"
    assert traced[0].destination == "192.168.4.4:5090"
    assert traced[1].source == "192.168.4.4:5090"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"hello\nthis is not a trace\n", "not a SIP trace"),
        (bytes(range(256)) * 10, "binary data"),
    ],
)
def test_bad_input_is_one_clear_line(data: bytes, message: str) -> None:
    with pytest.raises(TraceFormatError, match=message) as caught:
        read_records(data, "bad")
    assert "\n" not in str(caught.value)
