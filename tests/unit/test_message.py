"""The message model: parse, views, mutation and serialization."""

from __future__ import annotations

import pytest

from sipline.sip import (
    Headers,
    Request,
    Response,
    SipParseError,
    SipUri,
    make_request,
    make_response,
    new_branch,
    new_call_id,
    new_tag,
    parse_message,
)

INVITE = (
    b"INVITE sip:alice@192.168.4.4 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.168.4.4:26000;branch=z9hG4bK-d8754z-56adad736231f024-1---d8754z-;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"Contact: <sip:bob@192.168.4.4:26000>\r\n"
    b'To: "alice"<sip:alice@192.168.4.4>\r\n'
    b'From: "Bob"<sip:bob@192.168.4.4>;tag=15c8325a\r\n'
    b"Call-ID: YWEwYjNlZTZjOWZjNDg3ZjU3MjQ3MTA1ZmQ1MDM5YmQ.\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, MESSAGE, SUBSCRIBE, INFO\r\n"
    b"Content-Type: application/sdp\r\n"
    b"User-Agent: X-Lite release 1014k stamp 47051\r\n"
    b"Content-Length: 10\r\n"
    b"\r\n"
    b"v=0\r\no=- x"
)

RESPONSE = (
    b"SIP/2.0 180 Ringing\r\n"
    b"Via: SIP/2.0/UDP 192.168.4.4;rport=5060;branch=z9hG4bKey90QUyHZQXNN\r\n"
    b"Contact: <sip:alice@192.168.4.4:5090;rinstance=e7d5364c81f2b879;transport=UDP>\r\n"
    b"To: <sip:alice@192.168.4.4:5090;rinstance=e7d5364c81f2b879;transport=UDP>;tag=3813e926\r\n"
    b'From: "Bob"<sip:bob@192.168.4.4>;tag=Dp9ZQS3SB26pg\r\n'
    b"Call-ID: 0d74ac35-cca4-122d-81a2-2990e5b2bd3e\r\n"
    b"CSeq: 130069214 INVITE\r\n"
    b"User-Agent: Zoiper rev.5415\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)


def test_request_values_from_a_real_trace() -> None:
    m = parse_message(INVITE)
    assert isinstance(m, Request)
    assert m.method == "INVITE"
    assert m.uri == "sip:alice@192.168.4.4"
    assert isinstance(m.request_uri, SipUri)
    assert m.request_uri.user == "alice"
    assert m.top_via.branch == "z9hG4bK-d8754z-56adad736231f024-1---d8754z-"
    assert m.top_via.has_rport
    assert m.top_via.port == 26000
    assert m.from_.display_name == "Bob"
    assert m.from_.tag == "15c8325a"
    assert m.to.tag is None
    assert m.call_id == "YWEwYjNlZTZjOWZjNDg3ZjU3MjQ3MTA1ZmQ1MDM5YmQ."
    assert (m.cseq.number, m.cseq.method) == (1, "INVITE")
    assert m.max_forwards == 70
    assert m.content_type == "application/sdp"
    assert m.body == b"v=0\r\no=- x"
    assert m.headers.values("Allow")[:3] == ["INVITE", "ACK", "CANCEL"]
    assert [c.uri.port for c in m.contacts if isinstance(c.uri, SipUri)] == [26000]


def test_response_values() -> None:
    m = parse_message(RESPONSE)
    assert isinstance(m, Response)
    assert (m.status_code, m.reason) == (180, "Ringing")
    assert m.top_via.rport == 5060
    assert m.to.tag == "3813e926"
    assert m.cseq.number == 130069214


@pytest.mark.parametrize("data", [INVITE, RESPONSE])
def test_unmodified_round_trip_is_byte_exact(data: bytes) -> None:
    assert bytes(parse_message(data)) == data


def test_compact_forms_and_case_insensitive_lookup() -> None:
    data = (
        b"OPTIONS sip:a@example.com SIP/2.0\r\n"
        b"v: SIP/2.0/TCP h.example.com;branch=z9hG4bK1\r\n"
        b"f: <sip:b@example.com>;tag=1\r\n"
        b"t: sip:a@example.com\r\n"
        b"i: abc@h\r\n"
        b"CSEQ: 2 OPTIONS\r\n"
        b"k: timer, 100rel\r\n"
        b"l: 0\r\n\r\n"
    )
    m = parse_message(data)
    assert m.call_id == "abc@h"
    assert m.headers.get("Supported") == "timer, 100rel"
    assert m.headers.values("supported") == ["timer", "100rel"]
    assert "CONTENT-LENGTH" in m.headers
    assert m.top_via.transport == "TCP"
    assert bytes(m) == data


def test_folded_lines_are_unfolded_for_reading_but_kept_on_the_wire() -> None:
    data = (
        b"REGISTER sip:192.168.4.4 SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 192.168.4.4:5090;branch=z9hG4bK-1\r\n"
        b"To: <sip:alice@192.168.4.4>\r\n"
        b"From: <sip:alice@192.168.4.4>;tag=9c709222\r\n"
        b"Call-ID: x\r\n"
        b"CSeq: 2 REGISTER\r\n"
        b'Authorization: Digest username="alice",realm="192.168.4.4",\r\n'
        b'    nonce="62fb", uri="sip:192.168.4.4"\r\n'
        b"Content-Length: 0\r\n\r\n"
    )
    m = parse_message(data)
    assert m.headers.get("Authorization") == (
        'Digest username="alice",realm="192.168.4.4", nonce="62fb", uri="sip:192.168.4.4"'
    )
    assert bytes(m) == data


def test_modification_recomputes_content_length_and_keeps_order() -> None:
    m = parse_message(INVITE)
    m.body = b"v=0\r\n"
    m.headers.prepend("Via", "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKnew")
    out = bytes(m)
    assert out.startswith(b"INVITE sip:alice@192.168.4.4 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1")
    assert b"Content-Length: 5\r\n\r\nv=0\r\n" in out
    again = parse_message(out)
    assert again.top_via.host == "10.0.0.1"
    assert len(again.vias) == 2
    assert again.headers.get("User-Agent") == "X-Lite release 1014k stamp 47051"


def test_views_follow_header_changes() -> None:
    m = parse_message(INVITE)
    assert m.max_forwards == 70
    m.headers.set("Max-Forwards", "69")
    assert m.max_forwards == 69
    assert b"Max-Forwards: 69\r\n" in bytes(m)


def test_changing_the_request_uri_reserializes() -> None:
    m = parse_message(INVITE)
    assert isinstance(m, Request)
    m.uri = "sip:alice@192.168.4.4:5090"
    assert bytes(m).startswith(b"INVITE sip:alice@192.168.4.4:5090 SIP/2.0\r\n")
    assert isinstance(m.request_uri, SipUri)
    assert m.request_uri.port == 5090


def test_content_length_added_when_missing() -> None:
    m = Request("MESSAGE", "sip:a@b", [("Via", "SIP/2.0/UDP h;branch=z9hG4bKx")], b"hi")
    assert bytes(m).endswith(b"Content-Length: 2\r\n\r\nhi")


def test_leading_crlf_is_ignored_and_trailing_octets_dropped() -> None:
    m = parse_message(b"\r\n\r\n" + RESPONSE + b"junk after")
    assert bytes(m) == RESPONSE


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "empty"),
        (b"\x00\x01\x02", "empty line"),
        (b"INVITE sip:a@b SIP/2.0\r\nVia SIP/2.0/UDP h\r\n\r\n", "colon"),
        (RESPONSE.replace(b"CSeq: 130069214 INVITE\r\n", b""), "cseq"),
        (RESPONSE.replace(b"Call-ID", b"X-Call-ID"), "call-id"),
        (RESPONSE.replace(b"SIP/2.0 180", b"SIP/2.0 18"), "status code"),
        (RESPONSE.replace(b"Content-Length: 0", b"Content-Length: 5"), "content-length"),
        (INVITE.replace(b"INVITE sip", b"INV ITE sip"), "request line"),
        (INVITE.replace(b"Max-Forwards: 70", b"Max-Forwards: x"), "max-forwards"),
        (INVITE.replace(b"SIP/2.0\r\n", b"HTTP/1.1\r\n", 1), "version"),
    ],
)
def test_malformed_messages_name_their_defect(data: bytes, words: str) -> None:
    with pytest.raises(SipParseError) as excinfo:
        parse_message(data)
    described = f"{excinfo.value.reason} {excinfo.value.header or ''}".lower()
    assert words in described


def test_make_response_copies_the_transaction_headers() -> None:
    request = parse_message(INVITE)
    assert isinstance(request, Request)
    trying = make_response(request, 100)
    assert trying.to.tag is None
    assert trying.reason == "Trying"
    ok = make_response(request, 200, to_tag="abc", headers=[("Contact", "<sip:s@h>")])
    assert ok.to.tag == "abc"
    assert ok.call_id == request.call_id
    assert ok.cseq == request.cseq
    assert [str(v) for v in ok.vias] == [str(v) for v in request.vias]
    parsed = parse_message(bytes(ok))
    assert isinstance(parsed, Response)
    assert parsed.status_code == 200
    assert parsed.headers.get("Content-Length") == "0"
    assert make_response(request, 486).reason == "Busy Here"


def test_make_request_is_well_formed() -> None:
    branch, tag, call_id = new_branch(), new_tag(), new_call_id()
    assert branch.startswith("z9hG4bK")
    assert len(branch) > 16
    assert len({new_branch() for _ in range(100)}) == 100
    request = make_request(
        "OPTIONS",
        "sip:a@127.0.0.1",
        via=f"SIP/2.0/UDP 127.0.0.1:5060;branch={branch};rport",
        from_=f"<sip:s@127.0.0.1>;tag={tag}",
        to="<sip:a@127.0.0.1>",
        call_id=call_id,
        cseq=1,
    )
    parsed = parse_message(bytes(request))
    assert parsed.top_via.branch == branch
    assert parsed.cseq.method == "OPTIONS"
    assert parsed.max_forwards == 70


def test_headers_multimap_operations() -> None:
    h = Headers([("Route", "<sip:a;lr>"), ("X-A", "1"), ("route", "<sip:b;lr>, <sip:c;lr>")])
    assert h.get_all("ROUTE") == ["<sip:a;lr>", "<sip:b;lr>, <sip:c;lr>"]
    assert h.values("Route") == ["<sip:a;lr>", "<sip:b;lr>", "<sip:c;lr>"]
    assert h.remove("Route") == 2
    assert list(h) == [("X-A", "1")]
    h.set("x-a", "2")
    h.add("X-B", "3")
    assert list(h) == [("X-A", "2"), ("X-B", "3")]
    with pytest.raises(SipParseError):
        h.add("Bad Name", "x")


def test_replace_top_via_keeps_the_other_views_and_serializes() -> None:
    m = parse_message(INVITE)
    from_view = m.from_
    stamped = m.top_via.with_param("received", "203.0.113.9")
    m.replace_top_via(stamped)
    assert m.from_ is from_view  # not parsed again
    assert m.top_via.received == "203.0.113.9"
    out = bytes(m)
    assert b";received=203.0.113.9" in out.split(b"\r\n")[1]
    again = parse_message(out)
    assert again.top_via.received == "203.0.113.9"
    assert again.call_id == m.call_id


def test_replace_top_via_in_a_comma_separated_line() -> None:
    data = RESPONSE.replace(
        b"Via: SIP/2.0/UDP 192.168.4.4;rport=5060;branch=z9hG4bKey90QUyHZQXNN\r\n",
        b"Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKa, SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKb\r\n",
    )
    m = parse_message(data)
    m.replace_top_via(m.top_via.with_param("received", "192.0.2.1"))
    again = parse_message(bytes(m))
    assert [v.host for v in again.vias] == ["10.0.0.1", "10.0.0.2"]
    assert again.vias[0].received == "192.0.2.1"
    assert again.vias[1].received is None
