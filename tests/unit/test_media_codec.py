"""G.711 companding, RTP header and RFC 3550 reception statistics (no sockets)."""

from __future__ import annotations

import itertools
import math
import struct
from array import array

import pytest

from sipline.media import (
    ALAW_TO_ULAW,
    ULAW_TO_ALAW,
    ForwardPlan,
    RtpHeader,
    StreamStatistics,
    alaw_decode,
    alaw_encode,
    alaw_to_ulaw,
    is_rtcp,
    is_rtp,
    linear_to_alaw,
    linear_to_ulaw,
    ulaw_decode,
    ulaw_encode,
    ulaw_to_alaw,
)

# G.711 code words for silence and the extremes (bits as on the wire).
# (Negative samples round toward minus infinity on the 14-bit scale: -1 is -1, not 0.)
ULAW_VECTORS = [(0, 0xFF), (-1, 0x7E), (32767, 0x80), (-32768, 0x00), (8, 0xFE), (-40, 0x7A)]
ALAW_VECTORS = [(0, 0xD5), (-1, 0x55), (32767, 0xAA), (-32768, 0x2A)]


@pytest.mark.parametrize(("sample", "octet"), ULAW_VECTORS)
def test_ulaw_code_words(sample: int, octet: int) -> None:
    assert linear_to_ulaw(sample) == octet
    assert ulaw_encode(array("h", [sample])) == bytes([octet])


@pytest.mark.parametrize(("sample", "octet"), ALAW_VECTORS)
def test_alaw_code_words(sample: int, octet: int) -> None:
    assert linear_to_alaw(sample) == octet
    assert alaw_encode(array("h", [sample])) == bytes([octet])


def test_decode_tables() -> None:
    assert list(ulaw_decode(bytes([0xFF, 0x7F, 0x80, 0x00]))) == [0, 0, 32124, -32124]
    assert list(alaw_decode(bytes([0xD5, 0x55, 0xAA, 0x2A]))) == [8, -8, 32256, -32256]


def test_every_code_word_survives_decode_then_encode() -> None:
    octets = bytes(range(256))
    # µ-law has two zeros (0x7F, 0xFF): both decode to 0, which encodes to 0xFF.
    assert ulaw_encode(ulaw_decode(octets)) == octets.replace(b"\x7f", b"\xff")
    assert alaw_encode(alaw_decode(octets)) == octets


def test_quantization_error_is_within_half_a_step() -> None:
    samples = array("h", (int(12000 * math.sin(i / 5)) for i in range(4000)))
    for encode, decode in ((ulaw_encode, ulaw_decode), (alaw_encode, alaw_decode)):
        decoded = decode(encode(samples))
        for original, back in zip(samples, decoded, strict=True):
            # segment step at most 1024 on the 16-bit scale (top segment), half of it
            assert abs(original - back) <= max(512, abs(original) // 16)


def test_transcoding_tables_keep_the_sound() -> None:
    octets = bytes(range(256))
    via_alaw = ulaw_decode(alaw_to_ulaw(ulaw_to_alaw(octets)))
    for original, back in zip(ulaw_decode(octets), via_alaw, strict=True):
        assert abs(original - back) <= max(16, abs(original) // 12)
    assert octets.translate(ULAW_TO_ALAW) == ulaw_to_alaw(octets)
    assert octets.translate(ALAW_TO_ULAW) == alaw_to_ulaw(octets)
    assert ulaw_to_alaw(b"\xff") == b"\xd5"  # silence stays silence


def packet(
    seq: int, ts: int, ssrc: int = 0x1234, pt: int = 0, payload: bytes = b"\xff" * 160
) -> bytes:
    return RtpHeader(False, pt, seq, ts, ssrc).pack(payload)


def test_rtp_header_round_trip_and_classification() -> None:
    data = RtpHeader(True, 101, 65535, 2**32 - 1, 0xDEADBEEF).pack(b"x")
    assert RtpHeader.parse(data) == RtpHeader(True, 101, 65535, 2**32 - 1, 0xDEADBEEF)
    assert is_rtp(data)
    assert not is_rtcp(data)
    sender_report = struct.pack("!BBH", 0x80, 200, 6) + bytes(24)
    assert is_rtcp(sender_report)
    assert RtpHeader.parse(b"\x00\x01binding req") is None  # STUN


def test_statistics_count_loss_and_wrap() -> None:
    stats = StreamStatistics()
    sequence = [65533, 65534, 65535, 0, 2, 3]  # 1 lost across the wrap
    for index, seq in enumerate(sequence):
        stats.update(packet(seq, index * 160), index * 0.02)
    assert stats.packets == 6
    assert stats.expected == 7
    assert stats.lost == 1
    assert stats.octets == 6 * 160
    assert stats.jitter_ms == pytest.approx(0.0)


def test_statistics_jitter_follows_rfc3550_a8() -> None:
    stats = StreamStatistics(clock_rate=8000)
    arrivals = [0.0, 0.020, 0.045, 0.060, 0.080]  # packet 3 late by 5 ms, 4 on time
    for index, arrival in enumerate(arrivals):
        stats.update(packet(index, index * 160), arrival)
    jitter = 0.0
    transits = [int(a * 8000) - i * 160 for i, a in enumerate(arrivals)]
    for before, after in itertools.pairwise(transits):
        jitter += (abs(after - before) - jitter) / 16
    assert stats.jitter_units == pytest.approx(jitter)
    assert stats.jitter_ms == pytest.approx(jitter / 8)
    assert stats.jitter_ms > 0


def test_statistics_new_ssrc_and_duplicates() -> None:
    stats = StreamStatistics()
    for seq in (10, 11, 11, 12):  # a duplicate
        stats.update(packet(seq, seq * 160), seq * 0.02)
    stats.update(packet(500, 0, ssrc=99), 1.0)  # the phone restarted its stream
    stats.update(packet(502, 320, ssrc=99), 1.04)
    assert stats.ssrc == 99
    assert stats.packets == 6
    assert stats.expected == 3 + 3
    assert stats.lost == 0  # one duplicate makes up for the one lost


def test_statistics_big_jump_needs_two_in_a_row() -> None:
    stats = StreamStatistics()
    stats.update(packet(1, 0), 0.0)
    stats.update(packet(30000, 160), 0.02)  # a stray: not counted
    assert stats.packets == 1
    stats.update(packet(30001, 320), 0.04)  # sequential after it: a restart
    stats.update(packet(30002, 480), 0.06)
    assert stats.packets == 3


def test_forward_plan_rewrites_payload_type_and_transcodes() -> None:
    plan = ForwardPlan({0: 8, 101: 96}, {0: ULAW_TO_ALAW})
    out = plan.apply(RtpHeader(True, 0, 7, 160, 5).pack(b"\xff\x00"))
    assert RtpHeader.parse(out) == RtpHeader(True, 8, 7, 160, 5)
    assert out[12:] == b"\xd5\x2a"
    event = plan.apply(packet(8, 160, pt=101, payload=b"\x01\x0a\x00\xa0"))
    assert event[1] == 96
    assert event[12:] == b"\x01\x0a\x00\xa0"
    other = packet(9, 320, pt=9)
    assert plan.apply(other) is other
    padded = bytes([0xA0]) + packet(1, 0, payload=b"\xff\xff\x00\x02")[1:]
    assert plan.apply(padded)[12:] == b"\xd5\xd5\x00\x02"  # padding left alone
    assert ForwardPlan({}, {}).is_identity
