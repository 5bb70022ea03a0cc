"""The parser's fast path agrees with its general path on every input.

``_parser._parse`` takes the usual message through a few C-level splits and hands
anything else to ``_parse_general``.  Both must give the same message (start line,
header lines, body, bytes, typed views) or the same ``SipParseError``; these tests
feed both the RFC 4475 torture messages, the benchmark's messages and messages
assembled at random from usual and odd header lines.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipline.sip import Request, Response, SipParseError
from sipline.sip._parser import _parse, _parse_general

TORTURE = Path(__file__).parent.parent / "data" / "torture"


def outcome(parse: object, data: bytes) -> tuple[object, ...]:
    """What a parse gives, in comparable form: the error, or the message's values."""
    assert callable(parse)
    try:
        message = parse(data)
    except SipParseError as exc:
        return ("error", exc.reason, exc.header)
    except (ValueError, IndexError, UnicodeError, OverflowError, TypeError) as exc:
        return ("malformed", type(exc).__name__)
    assert isinstance(message, Request | Response)
    return (
        type(message).__name__,
        message._start_line(),
        message.headers.items(),
        message.body,
        bytes(message),
        [str(via) for via in message.vias],
        message.vias,
        message.from_,
        str(message.from_),
        message.to,
        str(message.to),
        message.call_id,
        message.cseq,
        message.max_forwards,
        message.top_via.branch,
        message.from_.tag,
        message.to.tag,
    )


def same(data: bytes) -> None:
    assert outcome(_parse, data) == outcome(_parse_general, data)


@pytest.mark.parametrize("path", sorted(TORTURE.glob("*.dat")), ids=lambda path: path.stem)
def test_torture_messages(path: Path) -> None:
    same(path.read_bytes())


INVITE = (
    b"INVITE sip:alice@192.168.4.4 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.168.4.4:26000;branch=z9hG4bK-d8754z-1;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"Contact: <sip:bob@192.168.4.4:26000>\r\n"
    b'To: "alice"<sip:alice@192.168.4.4>\r\n'
    b'From: "Bob"<sip:bob@192.168.4.4>;tag=15c8325a\r\n'
    b"Call-ID: YWEwYjNlZTZjOWZjNDg3ZjU3MjQ3MTA1ZmQ1MDM5YmQ.\r\n"
    b"CSeq: 2 INVITE\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 4\r\n\r\nv=0\n"
)


@pytest.mark.parametrize(
    "data",
    [
        INVITE,
        INVITE.replace(b"Max-Forwards: 70", b"Max-Forwards: 256"),
        INVITE.replace(b"Max-Forwards: 70", b"Max-Forwards: 0070"),
        INVITE.replace(b"Content-Length: 4", b"Content-Length: 5"),
        INVITE.replace(b"Content-Length: 4", b"Content-Length: x"),
        INVITE.replace(b"Content-Length: 4\r\n", b""),
        INVITE.replace(b"Call-ID: YW", b"Call-ID: Y W"),
        INVITE.replace(b"CSeq: 2 INVITE\r\n", b""),
        INVITE.replace(b"CSeq: 2 INVITE", b"CSeq: 99999999999 INVITE"),
        INVITE.replace(b"Via: ", b"v: ").replace(b"From: ", b"f: "),
        INVITE.replace(b"Via: ", b"Via:"),
        INVITE.replace(b"Via: ", b"Via : "),
        INVITE.replace(b"192.168.4.4:26000", b"192.168.4.4:99999"),
        INVITE.replace(b"192.168.4.4:26000", b"999.168.4.4"),
        INVITE.replace(b"<sip:alice@192.168.4.4>", b"<sip:alice@192.168.4.4:70000>"),
        INVITE.replace(b"<sip:alice@192.168.4.4>", b"<sip:alice@[::1]>"),
        INVITE.replace(b"<sip:alice@192.168.4.4>", b"<sips:alice@example.com;lr>"),
        INVITE.replace(b"<sip:alice@192.168.4.4>", b"<SIP:alice@example.com>"),
        INVITE.replace(b"Contact: ", b"Subject: Re: hi\r\nContact: "),
        INVITE.replace(b"Contact: ", b"Via: SIP/2.0/TCP h.example;branch=z9hG4bKx\r\nContact: "),
        INVITE.replace(b"Contact: <", b"Contact:\r\n <"),
        INVITE.replace(b"Contact: ", b"Contact: \r"),
        INVITE.replace(b"Contact: ", b"Contact: a\nb"),
        INVITE.replace(b"INVITE sip:", b"INVITE  sip:"),
        INVITE.replace(b" SIP/2.0\r\n", b" SIP/3.0\r\n", 1),
        b"\r\n" + INVITE,
        INVITE.replace(b"\r\n", b"\n"),
        b"SIP/2.0 200 OK\r\n" + INVITE.split(b"\r\n", 1)[1],
        b"SIP/2.0 200 OK: fine\r\n" + INVITE.split(b"\r\n", 1)[1],
        b"SIP/2.0 20 OK\r\n" + INVITE.split(b"\r\n", 1)[1],
    ],
)
def test_usual_and_odd_messages(data: bytes) -> None:
    same(data)


_LINES = [
    b"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport",
    b"Via: SIP/2.0/UDP 10.0.0.1;received=10.0.0.9;branch=z9hG4bK2",
    b"v: SIP/2.0/TCP host.example;branch=z9hG4bK3",
    b"VIA: SIP/2.0/UDP [::1]:5060;branch=z9hG4bK4",
    b'From: "A" <sip:a@example.com>;tag=1',
    b"From: <sip:a@10.0.0.1:5060;transport=udp>;tag=2",
    b"f: sip:a@example.com;tag=3",
    b"To: <sip:b@example.com>",
    b"To: B <sip:b@example.com>;tag=4",
    b"t: <tel:+123>",
    b"Call-ID: abc@10.0.0.1",
    b"i: def",
    b"Call-ID: a b",
    b"CSeq: 1 INVITE",
    b"CSeq: 2  BYE",
    b"Max-Forwards: 70",
    b"Max-Forwards: 300",
    b"Content-Length: 0",
    b"Content-Length: 3",
    b"l: 0",
    b"Subject: Re: hello",
    b"Subject:",
    b"Foo:bar",
    b"To",
    b"X-Odd : value",
    b" folded",
    b"Contact: <sip:a@10.0.0.1>;expires=60",
    b"Allow: INVITE, ACK, BYE",
]


@given(
    start=st.sampled_from(
        [b"INVITE sip:b@example.com SIP/2.0", b"SIP/2.0 180 Ringing", b"BYE sip:x SIP/2.0"]
    ),
    lines=st.lists(st.sampled_from(_LINES), max_size=12),
    body=st.sampled_from([b"", b"abc", b"abcdef"]),
)
def test_assembled_messages(start: bytes, lines: list[bytes], body: bytes) -> None:
    same(b"\r\n".join([start, *lines]) + b"\r\n\r\n" + body)


def test_usual_messages_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def general(data: bytes) -> None:
        raise AssertionError("the fast path handed the message over")

    monkeypatch.setattr("sipline.sip._parser._parse_general", general)
    for data in (INVITE, b"SIP/2.0 200 OK\r\n" + INVITE.split(b"\r\n", 1)[1]):
        assert bytes(_parse(data)) == data
