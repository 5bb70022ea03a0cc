"""SDP model: exact round trips, reading the parts, rewriting, and bad input."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sdp_samples import ALL, LINPHONE, MULTI, XLITE, ZOIPER

import sipline.sdp
from sipline.sdp import (
    Connection,
    Direction,
    MediaDescription,
    Origin,
    RtpMap,
    SdpParseError,
    SessionDescription,
    direction_of,
    payload_types,
    ptime_of,
    rtcp_address,
)
from sipline.sip import RemoteProtocolError


@pytest.mark.parametrize("name", [*sorted(ALL), "multi"])
def test_round_trip_is_exact(name: str) -> None:
    data = ALL.get(name, MULTI)
    sdp = SessionDescription.parse(data)
    assert bytes(sdp) == data
    assert SessionDescription.parse(bytes(sdp)) == sdp


@pytest.mark.parametrize(
    "data",
    [
        ZOIPER.replace(b"\r\n", b"\n"),  # LF only (RFC 8866 section 5 tolerance)
        ZOIPER.rstrip(b"\r\n"),  # no final CRLF
        ZOIPER + b"\r\n",  # an extra blank line at the end
        ZOIPER.replace(b"m=audio 8000 RTP/AVP 0 101", b"m=audio  8000 RTP/AVP 0  101"),
        ZOIPER.replace(b"a=sendrecv", "a=X-name:caf\u00e9 \xff".encode("latin-1")),
    ],
    ids=["lf", "no-final-eol", "blank-end", "double-spaces", "non-utf8"],
)
def test_round_trip_keeps_odd_but_readable_bodies(data: bytes) -> None:
    assert bytes(SessionDescription.parse(data)) == data


def test_linphone_session_and_media_parts() -> None:
    sdp = SessionDescription.parse(LINPHONE)
    assert sdp.origin == Origin("yhx", "3284", 4004, "192.168.101.13")
    assert sdp.session_name == "Talk"
    assert sdp.connection == Connection("192.168.101.13")
    assert sdp.attribute("ice-ufrag") == "008ffcec"
    (audio,) = sdp.media
    assert (audio.media, audio.port, audio.proto) == ("audio", 7078, "RTP/AVPF")
    assert audio.formats == ("96", "97", "98", "0", "8", "101", "99", "100")
    # The media-level c= (public address) wins over the session's private one.
    assert sdp.connection_for(audio) == Connection("122.137.129.21")
    assert len(audio.attribute_values("candidate")) == 4
    names = [(r.payload_type, str(r.codec)) for r in payload_types(audio)]
    assert names == [
        (96, "opus/48000/2"),
        (97, "speex/16000"),
        (98, "speex/8000"),
        (0, "PCMU/8000"),  # static: no rtpmap line needed (RFC 3551 table 4)
        (8, "PCMA/8000"),
        (101, "telephone-event/48000"),
        (99, "telephone-event/16000"),
        (100, "telephone-event/8000"),
    ]
    assert direction_of(sdp, audio) is Direction.SENDRECV
    assert rtcp_address(sdp, audio) == (None, 7079)
    assert ptime_of(audio) is None


def test_xlite_rtpmap_after_fmtp_and_static_types() -> None:
    sdp = SessionDescription.parse(XLITE)
    (audio,) = sdp.media
    assert [str(r.codec) for r in payload_types(audio)] == [
        "BV32/16000",
        "PCMU/8000",
        "PCMA/8000",
        "telephone-event/8000",
    ]
    assert audio.attribute("alt") == "1 1 : m2Vh7N7i 3nYuSDi1 192.168.4.4 21964"


def test_multi_stream_attributes() -> None:
    sdp = SessionDescription.parse(MULTI)
    audio, video, image = sdp.media
    assert sdp.connection is None
    assert sdp.connection_for(video) == Connection("198.51.100.7")
    assert rtcp_address(sdp, audio) == ("198.51.100.8", 53020)
    assert audio.has_attribute("rtcp-mux")
    assert ptime_of(audio) == 30
    assert not image.is_rtp
    assert video.is_rtp
    assert direction_of(sdp, audio) is Direction.SENDRECV  # session-level a=sendrecv


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ("a=sendonly\r\n", Direction.SENDONLY),
        ("a=recvonly\r\n", Direction.RECVONLY),
        ("a=inactive\r\n", Direction.INACTIVE),
        ("", Direction.SENDRECV),
    ],
)
def test_direction_attribute(lines: str, expected: Direction) -> None:
    data = ZOIPER.replace(b"a=sendrecv\r\n", lines.encode())
    sdp = SessionDescription.parse(data)
    assert direction_of(sdp, sdp.media[0]) is expected


def test_rfc2543_hold_address_means_do_not_send_to_me() -> None:
    data = ZOIPER.replace(b"c=IN IP4 192.168.4.4", b"c=IN IP4 0.0.0.0")
    sdp = SessionDescription.parse(data)
    assert sdp.connection is not None
    assert sdp.connection.is_hold
    assert direction_of(sdp, sdp.media[0]) is Direction.SENDONLY


def test_direction_answer_table() -> None:
    # RFC 3264 section 6.1
    assert Direction.SENDONLY.answer() is Direction.RECVONLY
    assert Direction.RECVONLY.answer() is Direction.SENDONLY
    assert Direction.INACTIVE.answer() is Direction.INACTIVE
    assert Direction.SENDRECV.answer() is Direction.SENDRECV
    assert Direction.SENDRECV.answer(Direction.SENDONLY) is Direction.SENDONLY
    assert Direction.SENDONLY.answer(Direction.SENDONLY) is Direction.INACTIVE


def test_rewriting_keeps_everything_else() -> None:
    sdp = SessionDescription.parse(FREESWITCH_LIKE := ALL["freeswitch"])
    audio = sdp.media[0].with_port(40000).with_attribute("ptime", "30")
    new = sdp.with_media([audio]).with_connection(Connection("10.0.0.1"))
    expected = (
        FREESWITCH_LIKE.replace(b"27718", b"40000")
        .replace(b"ptime:20", b"ptime:30")
        .replace(b"c=IN IP4 192.168.4.4", b"c=IN IP4 10.0.0.1")
    )
    assert bytes(new) == expected


def test_media_connection_inserted_after_information_line() -> None:
    media = MediaDescription.parse_m_line("audio 1 RTP/AVP 0", (("i", "voice"), ("a", "x")))
    media = media.with_connection(Connection("::1", "IP6"))
    assert media.lines == (("i", "voice"), ("c", "IN IP6 ::1"), ("a", "x"))
    assert media.with_connection(None).lines == (("i", "voice"), ("a", "x"))


def test_port_zero_drops_port_count() -> None:
    media = MediaDescription.parse_m_line("video 5000/2 RTP/AVP 31")
    assert media.port_count == 2
    assert media.m_line == "video 5000/2 RTP/AVP 31"
    assert media.with_port(0).m_line == "video 0 RTP/AVP 31"


def test_origin_next_version() -> None:
    origin = Origin.parse("FreeSWITCH 1257112829 1257112830 IN IP4 192.168.4.4")
    assert str(origin.next_version()) == "FreeSWITCH 1257112829 1257112831 IN IP4 192.168.4.4"


def test_rtpmap_parse_and_errors() -> None:
    assert RtpMap.parse("96 opus/48000/2") == RtpMap(96, "opus", 48000, 2)
    assert RtpMap.parse("101 telephone-event/8000").is_telephone_event
    for bad in ("x PCMU/8000", "96 opus", "200 PCMU/8000", "96 /8000"):
        with pytest.raises(SdpParseError):
            RtpMap.parse(bad)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\r\n",
        b"o=x 1 1 IN IP4 1.2.3.4\r\n",  # no v= first
        b"v=1\r\n",
        b"v=0\r\nnot a line\r\n",
        b"v=0\r\nab=c\r\n",
        b"v=0\r\no=x\r\n",
        b"v=0\r\no=x y z IN IP4 1.2.3.4\r\n",
        b"v=0\r\nc=IN IP4\r\n",
        b"v=0\r\nm=audio\r\n",
        b"v=0\r\nm=audio x RTP/AVP 0\r\n",
        b"v=0\r\nm=audio 70000 RTP/AVP 0\r\n",
        b"v=0\r\nm=audio 5/x RTP/AVP 0\r\n",
        b"v=0\r\nm=au:dio 5 RTP/AVP 0\r\n",
        b"v=0\r\nm=audio 5 RTP/AVP 0\r\nc=IN IP4 /1\r\n",
    ],
)
def test_malformed_bodies_raise_parse_error_with_400(data: bytes) -> None:
    with pytest.raises(SdpParseError) as caught:
        SessionDescription.parse(data)
    assert isinstance(caught.value, RemoteProtocolError)
    assert caught.value.status_hint == 400


def test_nonnumeric_rtp_format_is_the_peers_error() -> None:
    sdp = SessionDescription.parse(b"v=0\r\nm=audio 5 RTP/AVP PCMU\r\n")
    with pytest.raises(SdpParseError):
        payload_types(sdp.media[0])


_line_value = st.text(
    alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)),
    max_size=30,
)
_line = st.tuples(st.sampled_from("iuepbtrzka"), _line_value).map(lambda kv: f"{kv[0]}={kv[1]}")


@given(session=st.lists(_line, max_size=6), media=st.lists(st.lists(_line, max_size=4), max_size=3))
def test_any_well_formed_body_round_trips(session: list[str], media: list[list[str]]) -> None:
    lines = ["v=0", *session]
    for index, extra in enumerate(media):
        lines.append(f"m=audio {4000 + index * 2} RTP/AVP 0 8")
        lines.extend(extra)
    data = ("\r\n".join(lines) + "\r\n").encode()
    assert bytes(SessionDescription.parse(data)) == data


@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_parse_errors(data: bytes) -> None:
    try:
        sdp = SessionDescription.parse(b"v=0\r\n" + data)
    except SdpParseError:
        return
    for media in sdp.media:
        try:
            payload_types(media)
            direction_of(sdp, media)
            rtcp_address(sdp, media)
            ptime_of(media)
        except SdpParseError:
            pass


def test_sdp_package_is_sans_io() -> None:
    package = Path(sipline.sdp.__file__).parent
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in {"asyncio", "socket", "time", "threading"}
                assert not name.startswith("sipline.") or name.startswith(
                    ("sipline.sdp", "sipline.sip")
                ), (path.name, name)
