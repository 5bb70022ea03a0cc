"""RFC 3264 offer/answer (negotiate) and the B2BUA's anchoring rewrite, on the seeds' SDPs."""

from __future__ import annotations

import pytest
from sdp_samples import FREESWITCH, LINPHONE, MULTI, XLITE, ZOIPER

from sipline.sdp import (
    PCMA,
    PCMU,
    Capabilities,
    Codec,
    Direction,
    Origin,
    RtpMap,
    SdpNotAcceptable,
    SessionDescription,
    add_format,
    anchor,
    direction_of,
    keep_formats,
    negotiate,
    payload_types,
    rtcp_address,
)

ORIGIN = Origin("sipline", "42", 1, "203.0.113.1")


def answer_to(
    offer: bytes, capabilities: Capabilities | None = None, ports: tuple[int, ...] = (30000,)
) -> str:
    negotiation = negotiate(
        SessionDescription.parse(offer),
        capabilities or Capabilities(),
        address="203.0.113.1",
        ports=ports,
        origin=ORIGIN,
    )
    return bytes(negotiation.answer).decode()


def test_answer_to_zoiper_is_complete_and_exact() -> None:
    assert answer_to(ZOIPER) == (
        "v=0\r\n"
        "o=sipline 42 1 IN IP4 203.0.113.1\r\n"
        "s=sipline\r\n"
        "c=IN IP4 203.0.113.1\r\n"
        "t=0 0\r\n"
        "m=audio 30000 RTP/AVP 0 101\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\n"
        "a=fmtp:101 0-16\r\n"
        "a=ptime:20\r\n"
        "a=sendrecv\r\n"
    )


def test_offerers_order_wins_over_ours() -> None:
    # X-Lite offers BV32, PCMU, PCMA: we prefer PCMA but answer PCMU (RFC 3264 §6.1).
    negotiation = negotiate(
        SessionDescription.parse(XLITE),
        Capabilities(codecs=(PCMA, PCMU)),
        address="203.0.113.1",
        ports=[30000],
    )
    (stream,) = negotiation.streams
    assert stream.codecs == (RtpMap(0, "PCMU", 8000),)
    assert stream.telephone_event == RtpMap(101, "telephone-event", 8000)
    assert stream.remote_address == "192.168.4.4"
    assert stream.remote_port == 21964
    assert stream.remote_rtcp == ("192.168.4.4", 21965)
    # X-Lite wrote 0-15: the answer repeats the offer's events.
    assert "a=fmtp:101 0-15\r\n" in bytes(negotiation.answer).decode()


def test_several_codecs_when_asked() -> None:
    text = answer_to(XLITE, Capabilities(single_codec=False))
    assert "m=audio 30000 RTP/AVP 0 8 101\r\n" in text


def test_linphone_dynamic_types_keep_the_offers_numbers() -> None:
    # Opus and speex unsupported: PCMU chosen; telephone-event at 8000 Hz is PT 100,
    # not the 48 kHz (101) or 16 kHz (99) ones (RFC 4733 §2.5.1: same clock as audio).
    negotiation = negotiate(
        SessionDescription.parse(LINPHONE), Capabilities(), address="203.0.113.1", ports=[30000]
    )
    (stream,) = negotiation.streams
    assert [r.payload_type for r in stream.codecs] == [0]
    assert stream.telephone_event == RtpMap(100, "telephone-event", 8000)
    assert stream.remote_address == "122.137.129.21"  # media-level c= beats session's
    answer = negotiation.answer
    (audio,) = answer.media
    assert audio.proto == "RTP/AVPF"
    assert audio.formats == ("0", "100")
    assert audio.attribute_values("candidate") == []
    assert answer.attribute("ice-ufrag") is None


def test_telephone_event_can_be_declined() -> None:
    text = answer_to(ZOIPER, Capabilities(telephone_event=False))
    assert "m=audio 30000 RTP/AVP 0\r\n" in text
    assert "telephone-event" not in text


def test_offered_ptime_is_repeated_otherwise_ours() -> None:
    assert "a=ptime:20\r\n" in answer_to(FREESWITCH, Capabilities(ptime=30))
    assert "a=ptime:30\r\n" in answer_to(ZOIPER, Capabilities(ptime=30))


@pytest.mark.parametrize(
    ("offered", "local", "answered"),
    [
        ("sendonly", Direction.SENDRECV, "recvonly"),  # put on hold
        ("recvonly", Direction.SENDRECV, "sendonly"),
        ("inactive", Direction.SENDRECV, "inactive"),
        ("sendrecv", Direction.SENDRECV, "sendrecv"),
        ("sendrecv", Direction.RECVONLY, "recvonly"),  # e.g. a recorder
        ("sendonly", Direction.SENDONLY, "inactive"),
    ],
)
def test_hold_directions(offered: str, local: Direction, answered: str) -> None:
    offer = ZOIPER.replace(b"a=sendrecv", f"a={offered}".encode())
    negotiation = negotiate(
        SessionDescription.parse(offer),
        Capabilities(direction=local),
        address="203.0.113.1",
        ports=[30000],
    )
    answer = negotiation.answer
    assert direction_of(answer, answer.media[0]).value == answered
    assert negotiation.streams[0].direction.value == answered


def test_legacy_hold_address() -> None:
    offer = ZOIPER.replace(b"c=IN IP4 192.168.4.4", b"c=IN IP4 0.0.0.0")
    negotiation = negotiate(
        SessionDescription.parse(offer), Capabilities(), address="203.0.113.1", ports=[30000]
    )
    (stream,) = negotiation.streams
    assert stream.direction is Direction.RECVONLY
    assert stream.remote_address is None  # nowhere to send to


def test_unsupported_streams_answered_with_port_zero() -> None:
    negotiation = negotiate(
        SessionDescription.parse(MULTI),
        Capabilities(),
        address="203.0.113.1",
        ports=[30000, 30002, 30004],
    )
    audio, video, image = negotiation.answer.media
    assert audio.m_line == "audio 30000 RTP/AVP 8 96"
    assert video.m_line == "video 0 RTP/AVP 99"
    assert image.m_line == "image 0 udptl t38"
    assert [s.accepted for s in negotiation.streams] == [True, False, False]
    assert negotiation.streams[0].rtcp_mux
    assert negotiation.streams[0].remote_rtcp == ("198.51.100.8", 53020)
    assert audio.has_attribute("rtcp-mux")
    assert "a=ptime:30" in str(negotiation.answer)
    # Reparse: a valid SDP whose m-lines match the offer's one for one.
    again = SessionDescription.parse(bytes(negotiation.answer))
    assert [m.media for m in again.media] == ["audio", "video", "image"]


def test_video_accepted_when_capable() -> None:
    capabilities = Capabilities(
        codecs=(PCMA, Codec("H264", 90000)), media=frozenset({"audio", "video"})
    )
    text = answer_to(MULTI, capabilities, ports=(30000, 30002, 30004))
    assert "m=video 30002 RTP/AVP 99\r\n" in text
    assert "a=fmtp:99 profile-level-id=42e01f\r\n" in text


def test_no_common_codec_is_488() -> None:
    offer = ZOIPER.replace(b"RTP/AVP 0 101", b"RTP/AVP 18 101")
    with pytest.raises(SdpNotAcceptable) as caught:
        answer_to(offer)
    assert caught.value.status_hint == 488


def test_disabled_offer_stream_stays_disabled() -> None:
    offer = MULTI.replace(b"m=audio 49170", b"m=audio 0")
    with pytest.raises(SdpNotAcceptable):
        answer_to(offer, ports=(30000, 30002, 30004))


def test_missing_connection_is_the_peers_error() -> None:
    offer = b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n"
    with pytest.raises(Exception, match="no c= line") as caught:
        answer_to(offer)
    assert getattr(caught.value, "status_hint", None) == 400


# -- anchor: what the B2BUA puts on the other leg ------------------------------------


def test_anchor_linphone_on_the_relay() -> None:
    sdp = SessionDescription.parse(LINPHONE)
    anchored = anchor(sdp, "203.0.113.1", [40000], origin=ORIGIN)
    text = bytes(anchored).decode()
    assert "candidate" not in text
    assert "ice-" not in text
    assert "192.168.101.13" not in text
    assert "122.137.129.21" not in text
    (audio,) = anchored.media
    assert audio.m_line == "audio 40000 RTP/AVPF 96 97 98 0 8 101 99 100"
    assert anchored.connection_for(audio) is not None
    assert anchored.connection_for(audio).address == "203.0.113.1"  # type: ignore[union-attr]
    assert rtcp_address(anchored, audio) == (None, 40001)
    assert anchored.origin == ORIGIN
    # Codecs, rtcp-fb and the session's rtcp-xr pass through untouched.
    assert payload_types(audio) == payload_types(sdp.media[0])
    assert "a=rtcp-fb:* ccm tmmbr\r\n" in text
    assert text.startswith("v=0\r\no=sipline 42 1 IN IP4 203.0.113.1\r\ns=Talk\r\n")


def test_anchor_multi_rewrites_rtcp_and_disables_streams() -> None:
    anchored = anchor(SessionDescription.parse(MULTI), "203.0.113.1", [40000, 40002])
    audio, video, image = anchored.media
    assert audio.attribute("rtcp") == "40001"
    assert audio.has_attribute("rtcp-mux")
    assert video.port == 40002
    assert image.port == 0  # no port given: disabled
    assert anchored.connection is None  # every stream has its own c=
    assert {str(anchored.connection_for(m)) for m in anchored.media} == {"IN IP4 203.0.113.1"}


def test_anchor_ipv6_relay_address() -> None:
    anchored = anchor(SessionDescription.parse(ZOIPER), "::1", [40000])
    assert str(anchored.connection) == "IN IP6 ::1"


def test_anchor_is_exact_on_what_it_does_not_touch() -> None:
    anchored = anchor(SessionDescription.parse(ZOIPER), "192.168.4.4", [8000])
    assert bytes(anchored) == ZOIPER.replace(b"a=sendrecv\r\n", b"a=sendrecv\r\na=rtcp:8001\r\n")


def test_keep_and_add_formats_for_transcoding() -> None:
    (audio,) = SessionDescription.parse(XLITE).media
    widened = add_format(audio, RtpMap(9, "G722", 8000))
    assert widened.formats == ("107", "0", "8", "101", "9")
    assert widened.lines[4] == ("a", "rtpmap:9 G722/8000")  # after the last rtpmap
    assert add_format(widened, RtpMap(9, "G722", 8000)) is widened
    narrowed = keep_formats(audio, [8, 101])
    assert narrowed.formats == ("8", "101")
    assert narrowed.attribute_values("rtpmap") == ["101 telephone-event/8000"]
    assert narrowed.attribute_values("fmtp") == ["101 0-15"]
    assert narrowed.attribute("alt") is not None
