"""The quick header scan used for grouping agrees with the full parse, falls back to
it for unusual messages, and the hand-written pcap fast path agrees with dpkt."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

import sipline.analysis._parsed as parsed
from sipline.analysis import Origin, TraceRecord, analyse, read_records, read_trace
from sipline.analysis._parsed import TracedMessage, _traced
from sipline.analysis._pcap import _PacketDecoder, read_pcap
from sipline.sip import Address

DATA = Path(__file__).resolve().parent.parent / "data"
FIELDS = (
    "call_id",
    "method",
    "status",
    "reason",
    "cseq",
    "cseq_method",
    "branch",
    "from_tag",
    "to_tag",
    "from_user",
    "to_user",
    "request_user",
    "has_credentials",
    "transport",
    "first_line",
)
A = Address("udp", "192.0.2.1", 5060)
B = Address("udp", "192.0.2.2", 5062)


def _record(raw: bytes) -> TraceRecord:
    return TraceRecord(None, None, A, B, None, raw, Origin("test"))


def _both_ways(raw: bytes) -> tuple[TracedMessage, TracedMessage]:
    """(scanned, parsed at once): the second with the scan disabled."""
    scanned = _traced(1, _record(raw), {})
    original = parsed._scan
    parsed._scan = lambda traced, raw: False
    try:
        eager = _traced(1, _record(raw), {})
    finally:
        parsed._scan = original
    return scanned, eager


def _corpus() -> list[bytes]:
    raws = [p.read_bytes() for p in sorted((DATA / "torture").glob("*.dat"))]
    for path in sorted((DATA / "traces").iterdir()):
        raws += [r.raw for r in read_trace(path)]
    return raws


@pytest.mark.parametrize("raw", _corpus())
def test_scan_agrees_with_the_parser(raw: bytes) -> None:
    scanned, eager = _both_ways(raw)
    if eager.message is None:
        # The parser rejects it: the scan either stepped aside (same fields) or kept
        # what it read; either way the message is shown as unparsed with the reason.
        assert scanned.message is None
        assert scanned.error == eager.error
        return
    assert [getattr(scanned, f) for f in FIELDS] == [getattr(eager, f) for f in FIELDS]
    assert scanned.message is not None
    assert bytes(scanned.message) == bytes(eager.message)


def test_scan_defers_the_parse_until_asked() -> None:
    raw = read_trace(DATA / "traces" / "direct_call.sip")[0].raw
    traced = _traced(1, _record(raw), {})
    assert traced._parsed is False
    assert traced.method == "INVITE"
    assert traced.message is not None
    assert traced._parsed is True


def test_message_only_the_parser_rejects_is_grouped_and_shown_unparsed() -> None:
    records = read_trace(DATA / "traces" / "direct_call.sip")
    first = records[0]
    head, _, body = first.raw.partition(b"\r\n\r\n")
    lines = [
        line.replace(b"<sip:", b"<sip:[", 1) if line.startswith(b"From") else line
        for line in head.split(b"\r\n")
    ]  # fmt: skip  (a URI the parser rejects)
    raw = b"\r\n".join(lines) + b"\r\n\r\n" + body
    broken = TraceRecord(
        first.time, None, first.source, first.destination, "udp", raw, first.origin
    )
    flows = analyse([broken, *records[1:]])
    assert len(flows) == len(analyse(records))
    message = flows[0].messages[0]
    assert message.call_id == flows[0].call_ids[0]
    assert message.method == "INVITE"  # what the scan read: grouped with its call
    assert message.message is None  # and still shown as not parsing, with the reason
    assert "From" in (message.error or "")
    assert message.label == "(unparsed)"


@pytest.mark.parametrize(
    "raw",
    [
        b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1"
        b"\r\nTo: <sip:a@b>\r\nCall-ID: c1\r\nCall-ID: c2\r\nCSeq: 1 INVITE\r\n\r\n",
        b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1"
        b"\r\nTo: <sip:a@b>\r\nCall-ID: c1\r\nCSeq: one INVITE\r\n\r\n",
        b"INVITE sip:a@b SIP/2.0\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c1\r\n"
        b"CSeq: 1 INVITE\r\n\r\n",
        b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1"
        b"\r\nTo: <sip:a@b>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: 99\r\n\r\nv=0",
    ],
    ids=["two-call-ids", "bad-cseq", "no-via", "short-body"],
)
def test_unusual_messages_are_parsed_at_once(raw: bytes) -> None:
    traced = _traced(1, _record(raw), {})
    assert traced._parsed is True
    assert traced.message is None
    assert traced.error
    assert traced.method is None


# --- pcap fast path ------------------------------------------------------------------


def _frame(payload: bytes, *, vlan: bool = False, options: bool = False) -> bytes:
    udp = struct.pack("!HHHH", 5062, 5060, 8 + len(payload), 0) + payload
    ihl = 6 if options else 5
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x40 | ihl, 0, ihl * 4 + len(udp), 1, 0, 64, 17, 0,
        bytes((192, 0, 2, 2)), bytes((192, 0, 2, 1)),
    ) + (b"\x01\x01\x01\x00" if options else b"")  # fmt: skip
    tag = b"\x81\x00\x00\x05" if vlan else b""
    return b"\x02" * 6 + b"\x04" * 6 + tag + b"\x08\x00" + ip + udp + b"\x00" * 4  # padding


def test_fast_path_and_dpkt_read_the_same_records() -> None:
    raws = [r.raw for r in read_trace(DATA / "traces" / "direct_call.sip")]
    frames = [
        _frame(raws[0]),
        _frame(raws[1], vlan=True),
        _frame(raws[2], options=True),
        _frame(raws[3]),
    ]
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    body = b"".join(
        struct.pack("<IIII", 1_700_000_000 + n, 250, len(f), len(f)) + f
        for n, f in enumerate(frames)
    )
    fast = read_pcap(header + body, "x.pcap")
    slow = _PacketDecoder("x.pcap", 1)
    for number, frame in enumerate(frames, 1):
        slow.decode(number, 1_700_000_000 + number - 1 + 250e-6, frame)  # dpkt only
    slow.finish(0.0)
    assert fast == slow.records
    assert [r.raw for r in fast] == raws[:4]
    assert fast[0].source == B
    assert fast == read_records(header + body, "x.pcap")
